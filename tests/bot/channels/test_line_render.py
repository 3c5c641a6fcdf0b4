"""Neutral replies as LINE messages: plain text, quick replies, Flex cards, the quote card."""

from __future__ import annotations

from bot.channels.line_render import Button, Card, card_of, line_length, plans_of, render
from bot.messages import Option, Reply


def test_line_render_html_becomes_plain_text():
    """Bold goes, links are written out, escaped user text reads as typed."""
    card = Card("x", '<b>Quote</b> for &lt;Shop&gt; <a href="https://e.jp/a">page</a>')
    assert render(card, {}) == [{"type": "text", "text": "Quote for <Shop> page (https://e.jp/a)"}]


def test_line_render_choices_are_quick_replies_with_display_text():
    """A question's options: postback with the token, the label shown as what the user chose."""
    card = Card("quote/industry", "業種は？", (Button("quote.industry.retail", "小売業"),))
    [message] = render(card, {})
    [item] = message["quickReply"]["items"]
    assert item["action"] == {
        "type": "postback",
        "label": "小売業",
        "data": "quote.industry.retail",
        "displayText": "小売業",
    }


def test_line_render_long_label_uses_its_short_line_form():
    """A label over 20 characters takes its short form; the chat still shows the full label."""
    long = Button("quote.industry.it_services", "IT and information services")
    [message] = render(
        Card("quote/industry", "Industry?", (long,)), {"quote.industry.it_services": "IT services"}
    )
    action = message["quickReply"]["items"][0]["action"]
    assert action["label"] == "IT services" and action["displayText"] == "IT and information services"


def test_line_render_long_label_without_short_form_becomes_a_card():
    """No short form: a Flex bubble with a button, never a cut label."""
    long = Button("x.y.z", "A label that is much too long for LINE")
    [message] = render(Card("k", "Pick", (long,)), {})
    assert (
        message["type"] == "flex"
        and message["contents"]["footer"]["contents"][0]["action"]["label"] == long.label
    )


def test_line_render_multi_select_is_a_card_with_ticks():
    """A multi-select's options are buttons on a card, the ticked ones marked."""
    buttons = (Button("quote.channels.rakuten", "✅ 楽天市場"), Button("quote.channels.done", "完了"))
    [message] = render(Card("quote/channels", "販売チャネルは？", buttons), {}, {"quote.channels."})
    footer = message["contents"]["footer"]["contents"]
    assert [b["style"] for b in footer] == ["primary", "secondary"]
    assert footer[0]["action"]["displayText"] == "楽天市場"
    assert "販売チャネル" in message["altText"]


def test_line_render_more_than_13_choices_is_a_card():
    buttons = tuple(Button(f"a.b.{n}", str(n)) for n in range(14))
    [message] = render(Card("k", "many", buttons), {})
    assert message["type"] == "flex" and len(message["contents"]["footer"]["contents"]) == 14


def test_line_render_a_file_is_a_link():
    """LINE bots cannot send files: the record is a link in the text."""
    [message] = render(Card("incident/document", "記録です", link="https://bot.example.jp/records/abc"), {})
    assert message == {"type": "text", "text": "記録です\nhttps://bot.example.jp/records/abc"}


QUOTE = """<b>お見積り Q-20261202-0001</b>
年間売上高 300,000,000円（3億円）

<b>■ 楽天市場店舗限定 サイバー（情報漏えい）団体保険（三井住友海上）</b>
楽天市場以外も含めた会社全体の年間売上高で判定

◆ ミニコース
・保険料 月額 <b>3,500円</b>
・免責金額 なし

◆ 標準コース
・保険料 月額 <b>7,500円</b>

補償されない主な場合・条件:
　- 補償は日本国内の事故に限られます

<b>■ サイバー保険 中小企業向け（損保ジャパン）</b>

◆ 業種別の参考保険料【目安】
・保険料 月額 8,140円（売上高5億円の場合）
"""


def test_line_render_quote_result_is_a_card_with_the_plans_side_by_side_then_the_full_text():
    """The plans of a product sit side by side; altText names every premium; nothing is left out."""
    card, text = render(Card("quote/result", QUOTE), {})
    assert card["type"] == "flex" and text["type"] == "text"
    assert (
        "ミニコース: 保険料 月額 3,500円" in card["altText"]
        and "標準コース: 保険料 月額 7,500円" in card["altText"]
    )
    first, second = card["contents"]["contents"]  # one bubble per product
    columns = first["body"]["contents"][-1]
    assert columns["layout"] == "horizontal" and len(columns["contents"]) == 2
    assert "補償は日本国内の事故に限られます" in text["text"] and "3,500円" in text["text"]
    assert "8,140円" in str(second)


def test_line_render_plans_of_reads_products_and_premiums():
    head, plans = plans_of(render(Card("x", QUOTE), {})[0]["text"])
    assert head[0] == "お見積り Q-20261202-0001"
    assert [(p.name, p.premium) for p in plans][:2] == [
        ("ミニコース", "保険料 月額 3,500円"),
        ("標準コース", "保険料 月額 7,500円"),
    ]


def test_line_render_line_length_counts_emoji_as_two():
    assert line_length("🚨 Report incident") == 18 and line_length("小売業") == 3


def test_line_render_card_of_reads_a_reply():
    reply = Reply("k", "t", (Option("a.b.c", "<b>C</b>"),))
    card = card_of(reply)
    assert card.choices == (Button("a.b.c", "C"),)


COMPACT = """<b>お見積り Q-20261202-0001</b>
売上高 3億円・小売業・楽天市場

■ 楽天市場 店舗向け団体保険（三井住友海上）
◆ ミニコース: 月額 3,500円｜賠償 1,000万円・費用 100万円
◆ 標準コース: 月額 7,500円｜賠償 1億円・費用 1,000万円
補償開始 2027年1月1日（今日お申込みの場合）
"""


def test_line_render_compact_quote_result_has_its_plans_side_by_side():
    """The compact form ("◆ plan: premium｜limits" on one line) makes the same card."""
    card, text = render(Card("quote/result", COMPACT), {})
    assert card["altText"].splitlines()[1:] == ["ミニコース: 月額 3,500円", "標準コース: 月額 7,500円"]
    columns = card["contents"]["body"]["contents"][-1]["contents"]
    assert [c["contents"][0]["text"] for c in columns] == ["ミニコース", "標準コース"]
    assert "賠償 1億円・費用 1,000万円" in text["text"] and "補償開始" in text["text"]
