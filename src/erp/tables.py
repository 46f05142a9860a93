"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

import erp.integration.models  # noqa: F401
import erp.inventory.models  # noqa: F401
import erp.models  # noqa: F401
import erp.orders.models  # noqa: F401
import erp.people.models  # noqa: F401
import erp.returns.models  # noqa: F401
import erp.suppliers.models  # noqa: F401

metadata = SQLModel.metadata
