"""The SaaS shell: config, db, tenancy, accounts, roles, audit, API plumbing, i18n, jobs, county console.

Nothing here imports `jifen.tenants` or `jifen.workers`; capabilities plug in through registries.
"""
