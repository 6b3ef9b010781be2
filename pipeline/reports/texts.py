"""The words every report and the About page share: method, privacy note, signage notice.

Kept in one place so that the honest wording ("expression", never an inner state; small crowds
suppressed; no pixels stored) cannot drift between the screen, the PDF and the notice a store
prints for its entrance.
"""

from __future__ import annotations

from pipeline.emotion.labels import VALENCE_SIGN
from pipeline.reports.model_card import ModelFacts

CONTACT_PLACEHOLDER = "[operator: name, postal address, e-mail of the person responsible]"


def _listing(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def methodology(model: ModelFacts) -> list[str]:
    """Paragraphs explaining how the figures were made (plain text, no markup)."""
    positive = [n for n, s in VALENCE_SIGN.items() if s > 0]
    negative = [n for n, s in VALENCE_SIGN.items() if s < 0]
    return [
        "Frames are sampled from the footage or camera snapshots; a face detector (DeepFace) "
        "finds faces, and each face crop is scored by the expression model on eight facial "
        f"expressions ({', '.join(model.labels)}). Scores are calibrated probabilities that a "
        "face shows an expression; they describe what a face shows, not what a person "
        "experiences.",
        "The person is the unit: each anonymous track (one person in one piece of footage) "
        "first becomes one value per figure, its own average over its face rows, and every "
        "figure averages people, not frames, so a viewer filmed for a minute counts as much "
        "as one filmed for a second. Mean score: the average score of an expression. Share: "
        "the fraction of a person's face rows whose highest-scoring (dominant) expression it "
        "is, averaged over people. Expressiveness: the share of non-neutral rows.",
        f"Valence index: share with a positive dominant expression ({_listing(positive)})"
        f" minus share with a negative one ({_listing(negative)}); neutral and surprise count as "
        "neither. It ranges from -1 to +1; its 95 % interval is a Student-t interval over the "
        "people's own values, and with fewer than two people no interval is drawn.",
        "People: distinct anonymous tracks within one piece of footage or one batch of "
        "snapshots; the same person seen on another day or in another file counts again, "
        "because nobody is re-identified. For snapshot cameras people are the most faces in "
        "any one snapshot, and dwell and unique counts are not available. Dwell: how long a "
        "track stayed in view. Watchers: people who faced the display for at least 1 s "
        "(head pose); attention: seconds facing it; attraction: attention / dwell. Without "
        "head pose these read 'not available'.",
        "A/B verdicts compare the people of two stimuli: the difference of their means with a "
        "Welch 95 % interval; a winner is named only when the interval excludes zero.",
        "Ads are aligned to their own timeline (seconds since the start of the footage); "
        "displays and products are shown by clock time.",
    ]


def model_summary(model: ModelFacts) -> list[str]:
    """Model-card paragraphs quoting the installed model's manifest."""
    return [
        f"Model: {model.name} {model.version} ({model.architecture}).",
        f"Trained on: {model.training_data}.",
        f"Validation ({model.validation_split}, {model.validation_faces} faces): accuracy "
        f"{model.accuracy:.1%}, expected calibration error {model.ece:.3f}.",
        "Recall per expression is uneven (see the table): rare expressions such as contempt and "
        "disgust are the least reliable, so read their curves with care. Accuracy across age, "
        "gender and skin tone has not been measured.",
        f"Licence: {model.licence}.",
    ]


def privacy_note(min_crowd: int) -> list[str]:
    """Paragraphs a client must read before using the figures."""
    return [
        f"Minimum crowd: figures are shown only for groups of at least {min_crowd} people. "
        "The rule is applied once, on fixed base cells (half a second of an ad, five minutes "
        "of clock time, per camera); every bucket, date range, camera filter and segment is "
        "built only from cells that pass, so comparing views cannot reveal a withheld cell. "
        "Withheld buckets are greyed out and marked 'too few people' in every chart, table "
        "and export; face and people counts remain so gaps can be explained.",
        "No pixels stored: frames are analysed and discarded. The database holds numbers only "
        "(face position and size, expression scores, anonymous short-lived track numbers); no "
        "images, no face templates or embeddings, and no identities.",
        "Expressions, not inner states: a smile is a configuration of the face, not proof of how "
        "someone is doing. Expression recognition is uneven across people and contexts; use the "
        "figures for crowds and creative decisions, never about an individual.",
    ]


def consent_line(consent: dict[str, object] | None) -> str:
    """The banner of a consented study (empty for ordinary campaigns)."""
    if not consent:
        return ""
    when = consent.get("set_at")
    stamp = when.strftime("%Y-%m-%d %H:%M") if hasattr(when, "strftime") else str(when)
    note = f" ({consent['note']})" if consent.get("note") else ""
    return (
        "Consented study: respondents agreed to be analysed individually, so figures may "
        f"describe a single person. Recorded by {consent.get('set_by')} on {stamp}{note}."
    )


def notice_text(retention_days: int, contact: str = CONTACT_PLACEHOLDER) -> str:
    """Printable signage for an entrance or a study room, as plain text (the contact as typed:
    escape it where Markdown or HTML is rendered).

    Covers the EU AI Act Art. 50(3) information duty, GDPR Art. 13 transparency and a
    BIPA-style notice (what is collected, why, how long, no sale). Not legal advice: the
    operator completes the contact and checks it with counsel.
    """
    contact = contact.strip() or CONTACT_PLACEHOLDER
    return "\n".join(
        [
            "NOTICE: AUDIENCE EXPRESSION MEASUREMENT IN THIS AREA",
            "",
            "Cameras here are used by an automated system that estimates the facial "
            "expressions of people looking at this display or content (for example smiling, "
            "neutral, surprised), and counts how many people look and for how long "
            "(EU AI Act, Art. 50(3): emotion recognition system in use).",
            "",
            "What is processed: camera images of faces, analysed automatically on site. "
            "The images are discarded after analysis; only anonymous numbers are kept "
            "(counts, viewing time, expression scores for the crowd).",
            "",
            "What is NOT done: nobody is identified or recognised; no face templates, "
            "biometric identifiers or images are stored; people are not followed between "
            "visits; staff work areas are excluded; the data is not sold, leased or shared "
            "for profit.",
            "",
            "Purpose: to measure how audiences react to displays and advertising, reported "
            f"only for groups of several people. Retention: the anonymous figures are deleted "
            f"after {retention_days} days.",
            "",
            "Your rights (GDPR Art. 13-21): you may ask about this processing or object to it. "
            f"Contact: {contact}",
        ]
    )
