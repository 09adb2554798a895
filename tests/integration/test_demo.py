"""The quickstart's demo runs to the end: plan, apply, and a plan with no changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_plans_applies_and_converges() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    steps = [line for line in out.splitlines() if line.startswith("$ reconciler ")]
    assert [s.split()[2] for s in steps] == ["plan", "apply", "plan"]
    assert "Plan: 5 to add, 4 to remove." in out
    assert "Apply complete: 5 added, 4 removed." in out
    assert out.split("$ reconciler plan")[-1].count("No changes.") == 1
    assert "Traceback" not in result.stderr


# Members named by customer: customer 1 and shopper1@example.com are what the seed's own
# numbering would hand out first; the email repeats in another case; customer 1 repeats.
BY_CUSTOMER = """\
version: 1
segments:
  - name: VIP customers
    shopper_profiles:
      - 497f6eca-6276-4993-bfeb-53cbbbba6f08
      - customer_id: 1
      - email: Shopper1@Example.com
      - customer_id: 42
  - name: Wholesale
    shopper_profiles:
      - email: shopper1@example.com
      - customer_id: 1
      - email: jane@example.com
"""


def test_demo_seeds_the_customers_a_config_names(tmp_path: Path) -> None:
    config = tmp_path / "segments.yaml"
    config.write_text(BY_CUSTOMER)
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "-f", str(config)],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first_plan = result.stdout.split("$ reconciler apply")[0]
    # Customers 1 and 42 have no profile yet; the two emails have one.
    assert "+ shopper profile for customer 1 (" in first_plan
    assert "+ shopper profile for customer 42 (" in first_plan
    assert "Plan: 6 to add, 4 to remove, 2 shopper profiles to create." in first_plan
    assert "Apply complete: 6 added, 4 removed, 2 shopper profiles created." in result.stdout
    assert result.stdout.split("$ reconciler plan")[-1].count("No changes.") == 1
    assert "Traceback" not in result.stderr


def test_seeding_named_customers_is_repeatable_and_leaves_ids_free(tmp_path: Path) -> None:
    from reconciler.config import load_config
    from reconciler.demo import seed_from_config
    from reconciler.sandbox.store import SandboxStore

    config = tmp_path / "segments.yaml"
    config.write_text(BY_CUSTOMER)
    desired = load_config(config).state
    assert desired is not None

    def seeded() -> tuple[list[tuple[int, str]], list[int]]:
        store = SandboxStore()
        seed_from_config(store, desired)
        customers = [(c["id"], c["email"]) for c in store.customers.values()]
        with_profile = sorted(p["customer_id"] for p in store.profiles.values())
        # A customer made later is numbered past every seeded one.
        top = max(store.customers)
        assert store.add_customer("later@example.com")["id"] > top
        return customers, with_profile

    customers, with_profile = seeded()
    assert (customers, with_profile) == seeded()
    by_id = dict(customers)
    assert by_id[1] != "Shopper1@Example.com"  # an id and an email are distinct customers
    assert 1 not in with_profile and 42 not in with_profile
    assert len([e for e in by_id.values() if e.lower() == "shopper1@example.com"]) == 1
