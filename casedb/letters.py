"""Formal demand letters as Word documents, filed with the outbound message that sent them.

A letter is the lender's letterhead, the date and case number, the addressee, the subject as
its heading, the body the path step's template produced (already merged: amounts, dates and
names are in it) and a closing signed by the lender, in Chinese or English.

Word picks the font of Chinese characters from the East Asian slot of a run's fonts
(``w:eastAsia``), not from the Latin one ``python-docx`` sets with ``font.name``; without it a
Chinese letter opens in whatever the reader's default East Asian font is, or as boxes. So the
Normal and heading styles name SimSun (宋体) and SimHei (黑体) there explicitly, and drop the
template's theme fonts, which would otherwise win over an explicit name.
"""

from __future__ import annotations

import re
from datetime import date
from io import BytesIO

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docx.styles.style import ParagraphStyle

LATIN_FONT = "Times New Roman"
# 宋体 for the text, 黑体 for the heading and letterhead: what Chinese formal letters use, and
# installed with every Chinese Windows and Office.
BODY_EAST_ASIAN_FONT = "SimSun"
HEADING_EAST_ASIAN_FONT = "SimHei"
_THEME_FONT_ATTRIBUTES = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# The fixed words of a letter, by language (a message in any other language gets English).
_WORDING: dict[str, dict[str, str]] = {
    "zh": {
        "case_no": "案件编号：{case_no}",
        "date": "日期：{date}",
        "addressee": "{name}先生/女士：",
        "closing": "特此函告。",
        "department": "贷后管理部",
    },
    "en": {
        "case_no": "Case number: {case_no}",
        "date": "Date: {date}",
        "addressee": "Dear {name},",
        "closing": "Yours faithfully,",
        "department": "Collections Department",
    },
}


def _wording(language: str) -> dict[str, str]:
    return _WORDING.get(language.split("-")[0].lower(), _WORDING["en"])


def format_letter_date(day: date, language: str) -> str:
    """A date as a letter writes it: 2025年3月1日, or 1 March 2025."""
    if _wording(language) is _WORDING["zh"]:
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _set_fonts(style: ParagraphStyle, east_asian: str, *, chinese: bool) -> None:
    """Name ``east_asian`` in the style's East Asian font slot, Times New Roman in the Latin
    ones, and (for a Chinese letter) mark East Asian text as zh-CN so Word lays it out so."""
    style.font.name = LATIN_FONT  # creates w:rPr/w:rFonts with w:ascii and w:hAnsi
    run_properties = style.element.get_or_add_rPr()
    fonts = run_properties.get_or_add_rFonts()
    for attribute in _THEME_FONT_ATTRIBUTES:
        fonts.attrib.pop(qn(attribute), None)
    fonts.set(qn("w:eastAsia"), east_asian)
    fonts.set(qn("w:cs"), LATIN_FONT)
    if chinese:
        language = run_properties.find(qn("w:lang"))
        if language is None:
            language = OxmlElement("w:lang")
            run_properties.append(language)
        language.set(qn("w:eastAsia"), "zh-CN")


def _paragraphs(body: str) -> list[list[str]]:
    """The body's paragraphs (separated by blank lines), each as its lines."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    blocks = re.split(r"\n[ \t\u3000]*\n", text) if text else []
    return [[line.strip() for line in block.strip().split("\n")] for block in blocks]


def render_letter(
    *,
    subject: str,
    body: str,
    case_no: str,
    customer_name: str,
    language: str,
    lender_name: str,
    today: date,
) -> bytes:
    """The DOCX of a formal demand letter to ``customer_name`` about case ``case_no``."""
    words = _wording(language)
    chinese = words is _WORDING["zh"]
    document = Document()
    normal = document.styles["Normal"]
    _set_fonts(normal, BODY_EAST_ASIAN_FONT, chinese=chinese)
    normal.font.size = Pt(12)
    heading_style = document.styles["Heading 1"]
    _set_fonts(heading_style, HEADING_EAST_ASIAN_FONT, chinese=chinese)
    heading_style.font.size = Pt(16)
    heading_style.font.color.rgb = RGBColor(0, 0, 0)
    heading_style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading_style.paragraph_format.space_before = Pt(18)
    heading_style.paragraph_format.space_after = Pt(12)

    properties = document.core_properties
    properties.title = subject
    properties.author = lender_name
    properties.subject = case_no

    letterhead = document.add_paragraph()
    letterhead.alignment = WD_ALIGN_PARAGRAPH.CENTER
    lender = letterhead.add_run(lender_name)
    lender.bold = True
    lender.font.size = Pt(18)
    lender.font.name = LATIN_FONT
    lender.element.get_or_add_rPr().get_or_add_rFonts().set(
        qn("w:eastAsia"), HEADING_EAST_ASIAN_FONT
    )
    letterhead.add_run().add_break()
    letterhead.add_run(words["department"]).font.size = Pt(10)

    written = format_letter_date(today, language)
    for line in (words["date"].format(date=written), words["case_no"].format(case_no=case_no)):
        document.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.RIGHT

    document.add_paragraph(words["addressee"].format(name=customer_name))
    document.add_heading(subject, level=1)
    for lines in _paragraphs(body):
        paragraph = document.add_paragraph()
        if chinese:  # Chinese paragraphs open with two full-width spaces' indent
            paragraph.paragraph_format.first_line_indent = Pt(24)
        for index, line in enumerate(lines):
            run = paragraph.add_run(line)
            if index < len(lines) - 1:
                run.add_break()

    document.add_paragraph(words["closing"])
    for line in (lender_name, written):
        document.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.RIGHT

    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def letter_file_name(case_no: str, message_id: int, today: date) -> str:
    """The file name a letter is filed under: ASCII only (case numbers may hold Chinese or
    slashes), unique per message, and short enough for ``document_name`` (128)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", case_no).strip("._") or "case"
    return f"letter-{safe[:64]}-{message_id}-{today:%Y%m%d}.docx"
