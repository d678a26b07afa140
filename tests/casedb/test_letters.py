"""Formal demand letters are Word documents a collector can open, print and file: the lender's
letterhead, the date, the case number, the debtor, the subject and the merged body, with Chinese
text in a Chinese font."""

from datetime import date
from io import BytesIO

from docx import Document
from docx.oxml.ns import qn

from casedb.letters import format_letter_date, letter_file_name, render_letter

TODAY = date(2025, 3, 1)
BODY_ZH = (
    "您名下的贷款已逾期45天，逾期金额1,200.50元。\n请于2025-03-08前还款。\n\n"
    "如有疑问，请致电400-000-0000。"
)


def zh_letter() -> bytes:
    return render_letter(
        subject="逾期还款催告函",
        body=BODY_ZH,
        case_no="K1",
        customer_name="张三",
        language="zh",
        lender_name="示例消费金融有限公司",
        today=TODAY,
    )


def texts(document) -> list[str]:
    return [paragraph.text for paragraph in document.paragraphs]


def test_a_chinese_letter_opens_with_letterhead_date_case_addressee_subject_and_body():
    document = Document(BytesIO(zh_letter()))
    lines = texts(document)
    assert lines[0].startswith("示例消费金融有限公司")
    assert "日期：2025年3月1日" in lines
    assert "案件编号：K1" in lines
    assert "张三先生/女士：" in lines
    heading = next(p for p in document.paragraphs if p.style.name == "Heading 1")
    assert heading.text == "逾期还款催告函"
    assert document.core_properties.title == "逾期还款催告函"


def test_body_paragraphs_split_on_blank_lines_and_keep_their_line_breaks():
    lines = texts(Document(BytesIO(zh_letter())))
    assert "您名下的贷款已逾期45天，逾期金额1,200.50元。\n请于2025-03-08前还款。" in lines
    assert "如有疑问，请致电400-000-0000。" in lines


def test_the_letter_closes_and_is_signed_by_the_lender():
    lines = texts(Document(BytesIO(zh_letter())))
    closing = lines.index("特此函告。")
    assert lines[closing + 1 :] == ["示例消费金融有限公司", "2025年3月1日"]


def test_chinese_text_names_an_east_asian_font_word_uses():
    """Word takes the font of Chinese characters from w:eastAsia, and theme fonts would win
    over it: the styles name SimSun / SimHei there and carry no theme font."""
    styles = Document(BytesIO(zh_letter())).styles
    for style_name, font in (("Normal", "SimSun"), ("Heading 1", "SimHei")):
        fonts = styles[style_name].element.rPr.rFonts
        assert fonts.get(qn("w:eastAsia")) == font
        assert fonts.get(qn("w:eastAsiaTheme")) is None
    language = styles["Normal"].element.rPr.find(qn("w:lang"))
    assert language.get(qn("w:eastAsia")) == "zh-CN"


def test_an_english_letter_uses_english_wording():
    document = Document(
        BytesIO(
            render_letter(
                subject="Final demand",
                body="Your loan is 45 days overdue: CNY 1,200.50.",
                case_no="K1",
                customer_name="Zhang San",
                language="en",
                lender_name="Example Consumer Finance",
                today=TODAY,
            )
        )
    )
    lines = texts(document)
    assert "Date: 1 March 2025" in lines
    assert "Case number: K1" in lines
    assert "Dear Zhang San," in lines
    assert "Your loan is 45 days overdue: CNY 1,200.50." in lines
    assert "Yours faithfully," in lines


def test_dates_are_written_the_way_each_language_writes_them():
    assert format_letter_date(date(2025, 12, 9), "zh") == "2025年12月9日"
    assert format_letter_date(date(2025, 12, 9), "en") == "9 December 2025"


def test_file_names_are_ascii_and_unique_per_message():
    assert letter_file_name("K1", 42, TODAY) == "letter-K1-42-20250301.docx"
    name = letter_file_name("案件/2025 001", 7, TODAY)
    assert name.isascii()
    assert "/" not in name
    assert name.endswith("-7-20250301.docx")
    assert len(letter_file_name("K" * 500, 1, TODAY)) <= 128
