"""The paper's claims, one module each (critical, spatial, transport, use_cases); each exposes report_section(ctx)."""
