"""Model & privacy: the model card with its measured numbers, and the notice to print.

Operators must inform the people in front of their cameras (EU AI Act Art. 50(3), GDPR
Art. 13, BIPA-style signage); the notice is generated from the settings in force so its
retention period matches what ``purge`` deletes.
"""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.text import md_text
from pipeline.reports.model_card import load_model_facts, model_card_markdown
from pipeline.reports.texts import CONTACT_PLACEHOLDER, notice_text, privacy_note
from pipeline.settings import get_int


def _notice_html(text: str) -> bytes:
    """The notice as a printable A4 page (large type, no external resources)."""
    lines = text.split("\n")
    body = f"<h1>{html.escape(lines[0])}</h1>" + "".join(
        f"<p>{html.escape(line)}</p>" for line in lines[1:] if line
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Notice</title>'
        "<style>body{font-family:sans-serif;font-size:16pt;max-width:180mm;margin:15mm auto}"
        "h1{font-size:24pt}</style></head><body>" + body + "</body></html>"
    ).encode()


def _model() -> None:
    facts = load_model_facts()
    st.subheader(f"Expression model {facts.name} {facts.version}")
    columns = st.columns(4)
    columns[0].metric("Validation accuracy", f"{facts.accuracy:.1%}")
    columns[1].metric("Calibration error (ECE)", f"{facts.ece:.3f}")
    columns[2].metric("Validation faces", f"{facts.validation_faces:,}")
    columns[3].metric("Expressions", f"{len(facts.labels)}")
    recall = pd.DataFrame(
        {
            "expression": list(facts.per_class_recall),
            "recall": [100 * v for v in facts.per_class_recall.values()],
        }
    )
    st.dataframe(
        recall,
        key="about_recall",
        hide_index=True,
        column_config={
            "expression": "Expression",
            "recall": st.column_config.ProgressColumn(
                "Recall on validation faces", min_value=0.0, max_value=100.0, format="%.0f%%"
            ),
        },
    )
    card = model_card_markdown()
    if card:
        with st.expander("Full model card", expanded=False):
            st.markdown(card)


def _notice() -> None:
    st.subheader("Notice for entrances and study rooms")
    contact = st.text_input(
        "Contact printed on the notice",
        key="notice_contact",
        placeholder=CONTACT_PLACEHOLDER,
        help="The person or office people can ask about this processing.",
    )
    text = notice_text(get_int("EMOTION_RETENTION_DAYS"), contact or CONTACT_PLACEHOLDER)
    with st.container(border=True):
        for paragraph in text.split("\n\n"):  # the typed contact is text, never Markdown
            st.markdown(md_text(paragraph))
    left, right = st.columns(2)
    left.download_button(
        "Notice as text",
        text.encode(),
        file_name="notice.txt",
        mime="text/plain",
        key="notice_txt",
        on_click="ignore",
    )
    right.download_button(
        "Notice as printable page",
        _notice_html(text),
        file_name="notice.html",
        mime="text/html",
        key="notice_html",
        on_click="ignore",
    )
    st.caption("Not legal advice: check the notice and the retention period with counsel.")


def main() -> None:
    st.title("Model & privacy")
    st.subheader("How figures are protected")
    for line in privacy_note(state.min_crowd()):
        st.markdown(f"- {line}")
    _model()
    _notice()


main()
