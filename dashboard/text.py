"""User-supplied strings inside Markdown: escaped, so they are shown as the text they are.

Streamlit renders Markdown (GitHub-flavoured: links, images, autolinks) in st.markdown,
st.caption, alerts, toasts, button and progress labels. A campaign, stimulus, file or
segment name is typed by a user, so it must never become a link or an image (a name like
``![b](http://host/beacon.png)`` would make every browser showing it fetch that URL).
Escaping every ASCII punctuation character is what CommonMark allows and needs: no link,
image, emphasis, HTML, math or autolink (``http\\://``) can start inside an escaped string.
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_text(value: object) -> str:
    """``value`` as Markdown that displays exactly its characters (newlines become spaces)."""
    text = " ".join(str(value).split())
    return _PUNCTUATION.sub(r"\\\1", text)
