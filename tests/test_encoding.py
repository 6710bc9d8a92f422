"""Smart encoding and the preview (sms.encoding), checked against the gsm0338 codec.

The corpus is real-world SMS text: English with smart quotes, German,
Spanish, French, emoji, Arabic. Each text says what smart encoding must make
of it: already GSM-7 (``GSM``), GSM-7 once look-alikes are replaced
(``SMART``), or UCS-2 whatever is done (``UCS``). The gsm0338 codec, written
independently of ``sms``, is the oracle for what GSM-7 can carry.
"""

from decimal import Decimal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec: the oracle)
import pytest
from django import forms
from django.template import Context, Template
from django.test import override_settings

import sms
from sms import encoding
from sms.encoding import Replacement, preview, smart_encode, smart_encoding_enabled
from sms.exceptions import SmsConfigurationError

GSM, SMART, UCS = "gsm", "smart", "ucs"

CORPUS = [
    # English, typed on phones and in word processors.
    (GSM, "Your code is 482913. It expires in 10 minutes."),
    (GSM, "Reminder: your appointment is tomorrow at 9:30am. Reply C to cancel."),
    (SMART, "We’re sorry, your order #1234 didn’t ship today."),
    (SMART, "“Thanks for booking!” – See you on Friday."),
    (SMART, "Your parcel is on its way… track it at https://ex.co/t/9"),
    (SMART, "Flash sale — 20% off everything, today only!"),
    (SMART, "Don’t forget: bins go out Tuesday night ‘before 6am’."),
    (SMART, "Hi Sam,\u00a0your table for 4 is confirmed for 7\u202fpm."),
    (SMART, "Meeting moved to 3–4 pm (room 2.01)."),
    (SMART, "Opening hours: Mon–Fri 9–5, Sat 10–2."),
    (SMART, "Your balance is £12.50 – top up now to keep texting."),
    (SMART, "Pick-up code: 77\u200b21. Show it at the desk."),
    (SMART, "It’s sunny today, isn’t it?"),
    (SMART, "Delivery window: 10:00 – 12:00. Reply STOP to opt out."),
    (SMART, "Vote “yes” on Thursday — polls open 7am–10pm."),
    (SMART, "Password reset requested… if this wasn’t you, call us."),
    (SMART, "\ufeffYour prescription is ready for collection."),
    (SMART, "Price: 5 − 2 = 3 items left in stock ‒ hurry."),
    (GSM, "Total: €20 {incl. VAT} [ref: A|B] ~approx^ \\ path"),
    (UCS, "Hiking trip ™ confirmed: bring boots ✓"),
    # German.
    (GSM, "Ihr Termin ist am Montag um 10 Uhr. Bitte pünktlich erscheinen."),
    (GSM, "Grüße aus München! Die Straße ist gesperrt."),
    (SMART, "„Danke für Ihre Bestellung“ – Lieferung morgen."),
    (SMART, "Ihr Paket kommt heute zwischen 14–16 Uhr."),
    (SMART, "Öffnungszeiten: Mo–Fr 8–18 Uhr, Sa 9–13 Uhr."),
    (GSM, "Achtung: Ihr Konto wurde gesperrt. Rufen Sie uns an."),
    (SMART, "Ihr Code lautet 4711 … gültig für 5 Minuten."),
    (SMART, "Wir sagen ‚Tschüss‘ zum alten Tarif."),
    # Spanish.
    (GSM, "¿Confirmas tu cita del lunes? Responde SI o NO."),
    (GSM, "¡Feliz cumpleaños! Te regalamos un 10% de descuento."),
    (UCS, "Tu código de verificación es 5821. No lo compartas."),
    (
        UCS,
        "Recordatorio: tu pedido llegará mañana entre las 9 y las 14 h. "
        "Gracias por tu compra, José.",
    ),
    (SMART, "Oferta — 2x1 en todas las bebidas ¡hoy!"),
    (UCS, "«Atención»: el servicio se interrumpirá el miércoles."),
    (GSM, "Su saldo es 0. Recargue ahora en nuestra web."),
    (SMART, "Horario: lunes–viernes 9–18 h."),
    # French and other Latin scripts.
    (UCS, "Votre rendez-vous est confirmé à 14h. À bientôt !"),
    (SMART, "Votre colis arrive aujourd’hui entre 8 h et 12 h."),
    (UCS, "Ça marche : rendez-vous à la gare, côté nord."),
    (UCS, "Dziękujemy za zamówienie – wysyłka jutro."),
    # Emoji: UCS-2 whatever is done, and nothing is replaced.
    (UCS, "Happy birthday! 🎉🎂"),
    (UCS, "Your order’s on its way 🚚 — ETA 2pm."),
    (UCS, "Thanks 👍 see you soon"),
    (UCS, "❤️ Love from all of us"),
    (UCS, "Rain today ☔ take an umbrella…"),
    (UCS, "👨\u200d👩\u200d👧 family plan renewed"),
    # Arabic, Greek, Cyrillic, Chinese: letters are never transliterated.
    (UCS, "رمز التحقق الخاص بك هو 4821"),
    (UCS, "موعدك غداً الساعة ١٠ صباحاً — شكراً"),
    (UCS, "تم شحن طلبك… سيصل غدًا"),
    (UCS, "Ваш код: 1234"),
    (UCS, "您的验证码是 8842"),
    (GSM, "ΔΦΓΛΩΠΨΣΘΞ ok"),
]


def _gsm_septets(text):
    """Return the septets gsm0338 encodes ``text`` as, or None if it cannot."""
    try:
        return len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


@pytest.mark.parametrize(("expected", "text"), CORPUS)
def test_smart_encoding_on_real_world_texts(expected, text):
    body, replaced = smart_encode(text)
    septets = _gsm_septets(body)
    if expected == UCS:
        assert body == text and replaced == ()
        assert septets is None
        assert preview(text, smart=True).encoding == "UCS-2"
        return
    assert septets is not None, f"{body!r} does not fit GSM-7 per gsm0338"
    assert preview(text, smart=True).characters == septets
    assert preview(text, smart=True).encoding == "GSM-7"
    if expected == GSM:
        assert (body, replaced) == (text, ())
        return
    # Something was replaced, and the record says exactly what, how often.
    assert replaced and _gsm_septets(text) is None
    rebuilt = text
    for item in replaced:
        assert text.count(item.char) == item.count
        rebuilt = rebuilt.replace(item.char, item.replacement)
    assert rebuilt == body


def test_the_corpus_covers_each_outcome_and_script():
    kinds = [kind for kind, _ in CORPUS]
    assert len(CORPUS) >= 50
    assert kinds.count(GSM) >= 10 and kinds.count(SMART) >= 20
    assert kinds.count(UCS) >= 15


def test_replacements_are_counted_and_described():
    body, replaced = smart_encode("It’s “fine” — really… it’s fine")
    assert body == "It's \"fine\" - really... it's fine"
    assert Replacement("’", "'", 2) in replaced
    assert Replacement("…", "...", 1) in replaced
    assert '’ (U+2019) → "\'" ×2' in encoding.describe(replaced)


def test_one_character_without_a_look_alike_leaves_the_whole_body_as_written():
    # The em dash has one, the emoji none: nothing is replaced.
    text = "Sale — 50% off 🎉"
    assert smart_encode(text) == (text, ())


def test_letters_superscripts_and_symbols_are_not_look_alikes():
    for text in ("café á", "m²", "™", "½"):
        assert smart_encode(text) == (text, ())


def test_an_em_dash_costs_two_parts_more_without_smart_encoding():
    text = "Your order has shipped and will arrive on Friday between 9am and 1pm — " * 2
    plain, smart = preview(text), preview(text, smart=True)
    assert (plain.encoding, plain.parts) == ("UCS-2", 3)
    assert (smart.encoding, smart.parts, smart.characters_per_part) == (
        "GSM-7",
        1,
        160,
    )
    assert smart.characters_replaced == 2


def test_preview_counts_parts_and_units():
    long = preview("a" * 161)
    assert (long.parts, long.characters, long.characters_per_part) == (2, 161, 153)
    assert str(long) == "2 parts, 161/306 characters (GSM-7)"
    emoji = preview("🎉" * 35)
    assert (emoji.encoding, emoji.parts, emoji.characters) == ("UCS-2", 1, 70)
    assert str(preview("{}")) == "1 part, 4/160 characters (GSM-7)"


@override_settings(SMS_PRICES={"GB": "0.04", "+1": "0.0079"})
def test_preview_estimates_the_cost_from_the_price_table():
    message = sms.Message("a" * 200, "Acme", ["+441134960000", "+12125550100"])
    result = message.preview()
    assert result.parts == 2
    assert result.cost == Decimal("0.04") * 2 + Decimal("0.0079") * 2
    assert sms.Message("Hi", "Acme", []).preview().cost is None


@override_settings(SMS_PRICES={"GB": "0.04"})
def test_no_cost_when_a_recipient_has_no_price():
    message = sms.Message("Hi", "Acme", ["+441134960000", "+12125550100"])
    assert message.preview().cost is None


def test_the_setting_switches_it_on_and_a_message_overrides_it():
    message = sms.Message("It’s on", "Acme", ["+441134960000"])
    assert message.preview().encoding == "UCS-2"
    with override_settings(SMS_SMART_ENCODING=True):
        assert message.preview().body == "It's on"
        message.smart_encoding = False
        assert message.preview().body == "It’s on"
    message.smart_encoding = True
    assert message.preview().encoding == "GSM-7"
    assert message.preview().replaced == (Replacement("’", "'", 1),)


def test_smart_encoding_without_anyascii_is_refused_not_ignored(monkeypatch):
    monkeypatch.setattr(encoding, "anyascii", None)
    with pytest.raises(SmsConfigurationError, match=r"django-sms\[smart-encoding\]"):
        smart_encoding_enabled(True)
    assert smart_encoding_enabled(False) is False


@override_settings(SMS_SMART_ENCODING="yes")
def test_a_bad_setting_is_a_configuration_error():
    with pytest.raises(SmsConfigurationError, match="SMS_SMART_ENCODING is 'yes'"):
        smart_encoding_enabled()


class _Form(forms.Form):
    body = forms.CharField()


def test_the_template_filter_shows_a_form_fields_count():
    template = Template("{% load sms %}{{ form.body|sms_preview }}")
    form = _Form(data={"body": "x" * 170})
    assert template.render(Context({"form": form})) == (
        "2 parts, 170/306 characters (GSM-7)"
    )
    assert template.render(Context({"form": _Form()})) == (
        "1 part, 0/160 characters (GSM-7)"
    )
    parts = Template(
        "{% load sms %}{% with p=form.body|sms_preview %}{{ p.parts }}{% endwith %}"
    )
    assert parts.render(Context({"form": _Form(data={"body": "é" * 161})})) == "2"
    with override_settings(SMS_SMART_ENCODING=True):
        assert template.render(Context({"form": _Form(data={"body": "Hi — x"})})) == (
            "1 part, 6/160 characters (GSM-7)"
        )
