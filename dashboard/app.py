"""Entry point: ``python -m streamlit run dashboard/app.py`` from the repository root.

Routes with ``st.navigation``; the sidebar (campaign, minimum crowd) is drawn here, before the
page, so every page reads the same selection. When an OIDC login is configured in
``.streamlit/secrets.toml`` ([auth], Streamlit's ``st.login``), no page renders before the
user signed in. On the very first run, when the database file
does not exist yet, the demo campaign is built so the first screen shows real figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only this folder on sys.path; the pages import `dashboard` and `pipeline`.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from dashboard import data, state  # noqa: E402
from dashboard.text import md_text  # noqa: E402
from pipeline.errors import ReactionError  # noqa: E402
from pipeline.settings import validate_settings  # noqa: E402


def _ensure_demo(db: Path) -> None:
    """Build the demo campaign into a database that does not exist yet (first run only)."""
    if db.exists():
        return
    from pipeline.demo import build_demo
    from pipeline.store.database import connect

    try:
        with st.spinner("Preparing the demo campaign (first run only)..."):
            build_demo(db, if_missing=True)
    except ReactionError as error:  # the demo is a convenience: never let it block the app
        with connect(db):
            pass  # an empty, migrated store: the next run does not try again
        st.warning(
            f"**Demo campaign not loaded**\n\n{md_text(error.title)}: {md_text(error.message)}"
        )
    data.refresh()


def _login_provider() -> str | None:
    """The OIDC provider configured in ``.streamlit/secrets.toml`` ([auth]), or None.

    "" is the single unnamed provider ([auth] with client_id); otherwise the first named one
    ([auth.NAME]).
    """
    try:
        auth = st.secrets.get("auth")
    except (FileNotFoundError, KeyError, ValueError):
        return None
    if not auth:
        return None
    if "client_id" in auth:
        return ""
    named = [key for key, value in auth.items() if isinstance(value, dict)]
    return named[0] if named else ""


def _require_login() -> None:
    """With login configured, nothing of any campaign renders until the user signed in."""
    provider = _login_provider()
    if provider is None:
        return
    if not st.user.get("is_logged_in", False):
        st.title("Audience reactions")
        st.info("Sign in to see the campaigns.")
        st.button(
            "Sign in",
            key="login",
            type="primary",
            on_click=st.login,
            args=(provider,) if provider else (),
        )
        st.stop()
    with st.sidebar:
        st.text(f"Signed in as {st.user.get('email') or st.user.get('name') or 'user'}")
        st.button("Sign out", key="logout", on_click=st.logout)


def main() -> None:
    st.set_page_config(
        page_title="Audience reactions", page_icon=":material/insights:", layout="wide"
    )
    _require_login()
    try:
        validate_settings()
    except ReactionError as error:  # a setting with a bad value: say which, show nothing else
        state.show_error(error)
        st.stop()
    _ensure_demo(Path(data.db_path()))
    pages = {
        "Reactions": [
            st.Page(
                state.PAGE_OVERVIEW, title="Overview", icon=":material/dashboard:", default=True
            ),
            st.Page(state.PAGE_TIMELINE, title="Timeline", icon=":material/timeline:"),
            st.Page(state.PAGE_COMPARE, title="Compare stimuli", icon=":material/compare:"),
        ],
        "Data": [
            st.Page(state.PAGE_UPLOAD, title="Upload footage", icon=":material/upload:"),
            st.Page(state.PAGE_REPORTS, title="Reports & exports", icon=":material/download:"),
            st.Page("views/manage.py", title="Manage campaigns", icon=":material/edit:"),
        ],
        "About": [
            st.Page(state.PAGE_ABOUT, title="Model & privacy", icon=":material/policy:"),
        ],
    }
    page = st.navigation(pages)
    try:
        state.sidebar(data.db_path())
        page.run()
    except ReactionError as error:  # e.g. a setting with a bad value: title and message
        state.show_error(error)


main()
