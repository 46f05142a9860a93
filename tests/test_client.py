"""A client generated from the OpenAPI document (openapi-python-client, as an integrator would) builds
without a warning and reads naturally: `place_order`, `get_order`, models named like the API's."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_openapi import DOCUMENT

VENV_BIN = Path(sys.executable).parent


def test_a_generated_python_client_builds_without_warnings_and_reads_naturally(tmp_path):
    (tmp_path / "openapi.json").write_text(json.dumps(DOCUMENT))
    # Its post-generation hooks run ruff, which is installed beside this interpreter.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = subprocess.run(
        [VENV_BIN / "openapi-python-client", "generate", "--path", "openapi.json", "--meta", "none",
         "--output-path", "erp_client"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower() and "error" not in output.lower(), output

    package = tmp_path / "erp_client"
    functions = {path.stem for path in package.glob("api/*/*.py") if path.stem != "__init__"}
    operation_ids = {op["operationId"] for ops in DOCUMENT["paths"].values() for op in ops.values()}
    assert functions == operation_ids  # one module per operation, named by its id, nothing renamed or lost
    assert {"place_order", "get_order", "cancel_order", "list_products", "get_product", "update_product",
            "check_availability", "create_purchase_order", "receive_purchase_order", "inspect_receipt",
            "authorize_return", "open_repair", "create_api_key"} <= functions
    for name in functions:
        assert "api_v1" not in name and not name.endswith(("_get", "_post", "_put", "_patch", "_delete")), name
    models = {path.stem for path in (package / "models").glob("*.py")}
    assert {"order_create", "order_out", "problem", "problem_code", "product_out_page"} <= models

    # The generated package imports, and its functions are what the names promise.
    probe = ("import erp_client.api.orders.place_order as m, erp_client.models as models;"
             "assert callable(m.sync) and callable(m.asyncio);"
             "assert models.ProblemCode('insufficient_stock').value == 'insufficient_stock';"
             "print(models.OrderCreate.__name__)")
    imported = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0 and imported.stdout.strip() == "OrderCreate", imported.stderr
