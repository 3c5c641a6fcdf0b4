"""Incident words against insurance questions: a table of messages and where each must go.

The words are data (dialogs/words.toml); this table is what they must do. Add a row when a
message goes to the wrong place, then change the words.
"""

import pytest

from dialogs.words import FAQ, INCIDENT, QUOTE, UNSURE, read_intent

# Something happened (or may have): the incident help starts at once.
EVENTS = [
    "PCをなくした",
    "カード情報が漏れたかも",
    "お客様の情報が漏えいしたかもしれません",
    "ランサムウェアの画面が出た",
    "メールを誤送信しました",
    "ノートPCを紛失しました",
    "不正アクセスされたみたい",
    "サイトが改ざんされて不正アクセスを受けました",
    "顧客データが流出している",
    "スマホを落とした、顧客情報が入っている",
    "ウイルスに感染したかも",
    "ショップのアカウントが乗っ取られた",
    "ファイルが暗号化されて身代金を要求されています",
    "漏えい した かも",  # spaces typed between words
    "不正アクセスされた。保険は使えますか",  # it happened, and they ask about cover
    "I think we got hacked",
    "possible data breach",
    "ransomware on the office PC",
    "customer data leak",
    "Our site was hacked",
    "I lost my laptop with customer data",
    "Card numbers leaked from our shop",
    "ＰＣをなくした",  # full-width letters
]

# Questions about insurance, cover or a quote: the quote or the FAQ, never the incident help.
QUESTIONS = [
    ("情報漏えい保険の見積りをお願いします", QUOTE),
    ("ランサムウェアの補償はありますか", FAQ),
    ("不正アクセスの補償内容を知りたい", FAQ),
    ("I want a quote for data leak insurance", QUOTE),
    ("漏えいした場合、補償されますか", FAQ),
    ("もし不正アクセスされたら保険は使える？", FAQ),
    ("サイバー攻撃に備える保険の保険料はいくら？", QUOTE),
    ("Does the policy cover ransomware?", FAQ),
    ("If we are hacked, are we covered?", FAQ),
    ("How much is the premium for breach cover?", QUOTE),
    ("ランサムウェアとは", FAQ),
]

# Only an incident word: ask in one tap whether it happened.
UNCLEAR = ["漏えい", "不正アクセス", "ランサムウェア？", "情報漏洩", "data leak", "ransomware", "hacked?"]

# Nothing to do with incidents: no trigger at all (the step reads them as answers).
NOTHING = [
    "3億",
    "売上は3億円",
    "小売業",
    "We discovered your bot today",  # " cover" is not in "discovered"
    "楽天市場",
    "よろしくお願いします",
    "hello",
    "",
]


@pytest.mark.parametrize("text", EVENTS)
def test_words_that_describe_an_event_start_the_incident_help(text):
    assert read_intent(text) == INCIDENT


@pytest.mark.parametrize(("text", "where"), QUESTIONS)
def test_questions_about_insurance_go_to_the_quote_or_the_faq(text, where):
    assert read_intent(text) == where


@pytest.mark.parametrize("text", UNCLEAR)
def test_a_bare_incident_word_asks_whether_it_happened(text):
    assert read_intent(text) == UNSURE


@pytest.mark.parametrize("text", NOTHING)
def test_other_words_are_not_read_as_a_trigger(text):
    assert read_intent(text) is None
