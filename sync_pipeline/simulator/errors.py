"""Exceptions raised by the simulated Odoo, named and nested as in ``odoo.exceptions``.

The protocol layer (server.py) turns them into the fault codes and error bodies a real Odoo
sends: ``odoo_name`` is the dotted name Odoo reports in JSON-RPC/JSON-2 error bodies.
"""


class OdooError(Exception):
    """Any error an Odoo model method can raise; unexpected ones are server errors."""

    odoo_name = "builtins.Exception"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UserError(OdooError):
    odoo_name = "odoo.exceptions.UserError"


class ValidationError(UserError):
    odoo_name = "odoo.exceptions.ValidationError"


class AccessError(UserError):
    odoo_name = "odoo.exceptions.AccessError"


class MissingError(UserError):
    odoo_name = "odoo.exceptions.MissingError"


class AccessDenied(UserError):
    odoo_name = "odoo.exceptions.AccessDenied"

    def __init__(self, message: str = "Access Denied"):
        super().__init__(message)


class UnknownModel(OdooError):
    """``env[model]`` on a model that does not exist (Odoo raises KeyError)."""

    odoo_name = "builtins.KeyError"


class UnknownMethod(OdooError):
    """A method the model does not have or that is private."""

    odoo_name = "builtins.AttributeError"
