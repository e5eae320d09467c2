"""The operational app's own tables, as external assets: the sync reads them and adjusts them (the
NF cascade, the reduction hierarchy) but does not own them, so Dagster never materializes them.
They are in the lineage so an operator sees where the carteira's reservations come from and which
tables a sync may change (DESIGN §3)."""

from dagster import AssetKey, AssetSpec

SEPARACAO_KEY = AssetKey("separacao")
PRE_SEPARACAO_KEY = AssetKey("pre_separacao_item")
EMBARQUE_KEY = AssetKey("embarque_itens")
MOVIMENTACAO_KEY = AssetKey("movimentacao_estoque")

_OWNER = "Owned by the operational app (not materialized by Dagster)."

operational_tables = [
    AssetSpec(
        SEPARACAO_KEY,
        group_name="operacional",
        kinds={"postgres"},
        description=(
            f"Separação lots: what logistics reserved per order and product. {_OWNER} The sync marks a "
            "lot invoiced when its NF posts, releases it when the NF is cancelled, and reduces it by the "
            "hierarchy of DESIGN §5.3 when the order shrinks."
        ),
    ),
    AssetSpec(
        PRE_SEPARACAO_KEY,
        group_name="operacional",
        kinds={"postgres"},
        description=(
            f"Pré-separações: quantities a user set aside before a lot exists. {_OWNER} The sync "
            "reduces them first when an order shrinks (DESIGN §5.3)."
        ),
    ),
    AssetSpec(
        EMBARQUE_KEY,
        group_name="operacional",
        kinds={"postgres"},
        description=(
            f"Shipment items. {_OWNER} The sync clears the NF of an item whose NF was cancelled and "
            "marks the items of a cancelled order cancelled."
        ),
    ),
    AssetSpec(
        MOVIMENTACAO_KEY,
        group_name="operacional",
        kinds={"postgres"},
        description=(
            f"Stock movements. {_OWNER} The sync writes the movement of an invoiced separação and "
            "deactivates the movements of a cancelled NF."
        ),
    ),
]
