"""Start and stop the labour manager's web app for a site (used by `sitegate run` and
`sitegate web serve`)."""
from __future__ import annotations


def open_accounts(cfg, clock=None):
    from gateway.web.accounts import Accounts
    w = cfg.web
    kw = {"clock": clock} if clock else {}
    return Accounts(w.accounts, idle_s=w.session_idle_min * 60, max_s=w.session_max_hours * 3600, **kw)


def start_web(cfg, lanes_info: list | None = None, registrations=None):
    """Build and start the web app for ``cfg`` (ConfigError when the transport is unsafe).
    ``registrations``: the daemon's reporter, so a registration goes to the outbox at once."""
    from gateway.ledger.site_data import SiteData
    from gateway.web.app import WebServer, build_app
    cfg.web.check_transport()
    data = SiteData(cfg)
    accounts = open_accounts(cfg)
    app = build_app(data, accounts, secure_cookie=cfg.web.tls, registrations=registrations,
                    signin_link_user=cfg.web.signin_link_user if cfg.web.loopback else "")
    try:
        server = WebServer(app, cfg.web.listen, cfg.web.port, cfg.web.cert, cfg.web.key).start()
    except BaseException:
        data.close()
        accounts.close()
        raise
    server.resources = (data, accounts)
    return server


def stop_web(server) -> None:
    server.close()
    for r in server.resources:
        r.close()
