"""The console logins that ``run.py demo`` creates: for a demo only, never for production."""

from __future__ import annotations

# (username, password, role). collector1.. and supervisor1.. match the demo's collectors and
# team supervisors, so their data scope has cases once the rules service assigns them.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("admin", "admin123", "Admin"),
    ("analyst", "analyst123", "Analyst"),
    ("supervisor1", "supervisor123", "Supervisor"),
    ("collector1", "collector123", "Collector"),
    ("collector2", "collector123", "Collector"),
    ("auditor", "auditor123", "Auditor"),
]


def ensure_demo_logins() -> list[str]:
    """Create the demo users that do not exist yet; returns a line per login."""
    from console.app import create_app  # noqa: PLC0415

    app = create_app()
    lines = []
    with app.app_context():
        security = app.appbuilder.sm
        for username, password, role_name in DEMO_LOGINS:
            role = security.find_role(role_name) or security.add_role(role_name)
            if security.find_user(username=username) is None:
                security.add_user(
                    username, username, "demo", f"{username}@demo.invalid", role, password=password
                )
            lines.append(f"{username} / {password} ({role_name})")
    return lines
