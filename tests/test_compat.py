"""django-sms 0.7.0 code keeps working: one test per kept behaviour.

Each test is named after the item of docs/compatibility.md ("What is kept")
it checks, in that page's order, followed by the deliberate departures.
"""

import importlib
import io
import os
import shutil
import tempfile
import types
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal
from django.test import SimpleTestCase, override_settings

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import RecipientRejected
from sms.message import RecipientResult
from sms.signals import post_send
from sms.utils import message_from_binary_file, message_from_bytes
from tests.support.processes import run_python

ROOT = Path(__file__).resolve().parent.parent
ORIGINATOR = "+12065550100"
RECIPIENT = "+441134960000"
OTHER = "+441134960999"
SEPARATOR = "-" * 79
DEV_BACKENDS = [
    f"sms.backends.{name}.SmsBackend"
    for name in ("console", "filebased", "locmem", "dummy")
]


class CustomBackend(BaseSmsBackend):
    """The custom-backend contract of 0.7.0, exactly as its users wrote it."""

    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.test_outbox = []

    def send_messages(self, messages):
        self.test_outbox.extend(messages)
        return len(messages)


class QueueingBackend(CustomBackend):
    """Stores messages for later, as the outbox does: delivers nothing now."""

    delivers = False


class HalfFailingBackend(BaseSmsBackend):
    """Rejects OTHER; honours fail_silently as the contract says."""

    def send_messages(self, messages):
        count = 0
        for message in messages:
            message.results = [
                RecipientResult(r, status="rejected", error=RecipientRejected("no"))
                if r == OTHER
                else RecipientResult(r)
                for r in message.recipients
            ]
            if all(result.ok for result in message.results):
                count += 1
            elif not self.fail_silently:
                raise RecipientRejected("no")
        return count


class NamesAndModulesTests(SimpleTestCase):
    def test_names_send_sms_get_connection_message_post_send_base_backend(self):
        import sms.backends.base
        import sms.message
        import sms.signals

        self.assertTrue(callable(sms.send_sms))
        self.assertTrue(callable(sms.get_connection))
        self.assertIs(sms.Message, sms.message.Message)
        self.assertEqual(sms.Message.__module__, "sms.message")
        self.assertIsInstance(sms.signals.post_send, Signal)
        self.assertIs(sms.BaseSmsBackend, sms.backends.base.BaseSmsBackend)

    def test_backend_modules_each_export_a_class_named_sms_backend(self):
        for name in (
            "console",
            "filebased",
            "locmem",
            "dummy",
            "messagebird",
            "twilio",
        ):
            with self.subTest(module=name):
                module = importlib.import_module(f"sms.backends.{name}")
                self.assertTrue(issubclass(module.SmsBackend, BaseSmsBackend))
                self.assertEqual(module.SmsBackend.__name__, "SmsBackend")

    def test_utils_message_from_bytes_and_binary_file_parse_console_format(self):
        data = (
            f"x\nfrom: Shop\nto: {RECIPIENT}\nto: {OTHER}\nGr\u00fc\u00dfe\n"
            f"{SEPARATOR}\n"
        ).encode()
        for message in (
            message_from_bytes(data),
            message_from_binary_file(io.BytesIO(data)),
        ):
            self.assertIsInstance(message, sms.Message)
            self.assertEqual(message.originator, "Shop")
            self.assertEqual(message.recipients, [RECIPIENT])
            # ASCII with surrogateescape: the UTF-8 bytes survive as surrogates.
            self.assertIn("\udcc3\udcbc", message.body)
        for missing in (b"to: 1\nbody", b"from: Shop\nbody"):
            with self.assertRaises(ValueError):
                message_from_bytes(missing)


class MessageAndSendSmsTests(SimpleTestCase):
    def setUp(self):
        sms.outbox = []

    def test_message_every_argument_optional_works_with_no_settings_at_all(self):
        out = run_python(
            """
            from django.conf import settings
            from sms import Message
            m = Message()
            print(settings.configured, repr(m.body), repr(m.originator), m.recipients,
                  m.connection, m.segments, m.encoding)
            m = Message(body="b", originator="o", recipients=["1"], connection=None)
            print(m.body, m.originator, m.recipients)
            """
        )
        self.assertEqual(out, "False '' '' [] None 1 GSM-7\nb o ['1']\n")

    def test_originator_falls_back_to_default_from_sms_read_at_construction(self):
        with self.settings(DEFAULT_FROM_SMS="Shop"):
            message = sms.Message("x", None, [RECIPIENT])
        self.assertEqual(message.originator, "Shop")
        with self.settings(DEFAULT_FROM_SMS="Other"):
            self.assertEqual(message.originator, "Shop")
        from django.conf import settings

        with self.settings():
            del settings.DEFAULT_FROM_SMS
            self.assertEqual(sms.Message("x").originator, "")

    @override_settings(SMS_BACKEND="sms.backends.locmem.SmsBackend")
    def test_recipients_str_type_error_send_sms_wraps_str_stored_as_list(self):
        with self.assertRaisesMessage(
            TypeError, '"recipients" argument must be a list or tuple'
        ):
            sms.Message("x", ORIGINATOR, RECIPIENT)
        sms.send_sms("Content", "0600000000", "0600000000")
        self.assertEqual(sms.outbox[0].recipients, ["0600000000"])
        self.assertIsInstance(
            sms.Message("x", ORIGINATOR, (RECIPIENT,)).recipients, list
        )

    def test_numbers_not_validated_pass_dev_backends_untouched(self):
        tmp_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp_dir, True)
        stream = io.StringIO()
        kwargs = {
            "sms.backends.console.SmsBackend": {"stream": stream},
            "sms.backends.filebased.SmsBackend": {"file_path": tmp_dir},
        }
        for backend in DEV_BACKENDS:
            with self.subTest(backend=backend):
                connection = sms.get_connection(backend, **kwargs.get(backend, {}))
                message = sms.Message("Content", "0600000000", ["0600000000"])
                self.assertEqual(connection.send_messages([message]), 1)
                self.assertEqual(message.recipients, ["0600000000"])
        self.assertEqual(sms.outbox[0].recipients, ["0600000000"])
        self.assertIn("from: 0600000000\nto: 0600000000\n", stream.getvalue())
        (name,) = os.listdir(tmp_dir)
        with open(os.path.join(tmp_dir, name), "rb") as fp:
            self.assertEqual(message_from_binary_file(fp).recipients, ["0600000000"])

    @override_settings(SMS_BACKEND="tests.test_compat.CustomBackend")
    def test_message_get_connection_creates_connection_and_keeps_it(self):
        message = sms.Message("x", ORIGINATOR, [RECIPIENT])
        connection = message.get_connection(fail_silently=True)
        self.assertIsInstance(connection, CustomBackend)
        self.assertIs(connection.fail_silently, True)
        self.assertIs(message.connection, connection)
        self.assertIs(message.get_connection(), connection)

    @override_settings(SMS_BACKEND="sms.backends.nope.SmsBackend")
    def test_message_send_without_recipients_returns_0_without_a_connection(self):
        message = sms.Message("x", ORIGINATOR)
        self.assertEqual(message.send(), 0)
        self.assertIsNone(message.connection)


class GetConnectionTests(SimpleTestCase):
    def test_get_connection_imports_at_every_call_and_passes_keywords(self):
        with self.settings(SMS_BACKEND="tests.test_compat.CustomBackend"):
            self.assertIsInstance(sms.get_connection(), CustomBackend)
        with self.settings(SMS_BACKEND="sms.backends.dummy.SmsBackend"):
            self.assertEqual(
                type(sms.get_connection()).__module__, "sms.backends.dummy"
            )
        stream = io.StringIO()
        connection = sms.get_connection(
            backend="sms.backends.console.SmsBackend", fail_silently=True, stream=stream
        )
        self.assertIs(connection.stream, stream)
        self.assertIs(connection.fail_silently, True)

    def test_custom_backend_contract_super_init_and_send_messages(self):
        connection = sms.get_connection("tests.test_compat.CustomBackend")
        self.assertTrue(hasattr(connection, "test_outbox"))
        message = sms.Message("Content", "0600000000", ["0600000000"])
        self.assertEqual(connection.send_messages([message]), 1)
        self.assertEqual(len(connection.test_outbox), 1)
        # Message.send() and post_send work with it too, though it records no
        # results: its count says the message went.
        seen = []

        def receiver(sender, instance, **kwargs):
            seen.append(instance)

        post_send.connect(receiver)
        self.addCleanup(post_send.disconnect, receiver)
        message.connection = connection
        self.assertEqual(message.send(), 1)
        self.assertEqual(seen, [message])


class OutputFormatTests(SimpleTestCase):
    def setUp(self):
        self.tmp_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp_dir, True)

    def test_console_and_file_record_per_recipient_separator_flush_each(self):
        class Stream(io.StringIO):
            flushes = 0

            def flush(self):
                Stream.flushes += 1

        stream = Stream()
        connection = sms.get_connection(
            "sms.backends.console.SmsBackend", stream=stream
        )
        messages = [
            sms.Message("one", ORIGINATOR, [RECIPIENT, OTHER]),
            sms.Message("two", ORIGINATOR, [RECIPIENT]),
        ]
        connection.send_messages(messages)
        expected = (
            f"from: {ORIGINATOR}\nto: {RECIPIENT}\none\n{SEPARATOR}\n"
            f"from: {ORIGINATOR}\nto: {OTHER}\none\n{SEPARATOR}\n"
            f"from: {ORIGINATOR}\nto: {RECIPIENT}\ntwo\n{SEPARATOR}\n"
        )
        self.assertEqual(stream.getvalue(), expected)
        self.assertEqual(Stream.flushes, 2)
        records = stream.getvalue().split("\n" + SEPARATOR + "\n")
        self.assertEqual(records[-1], "")
        files = sms.get_connection(
            "sms.backends.filebased.SmsBackend", file_path=self.tmp_dir
        )
        files.send_messages(messages)
        (name,) = os.listdir(self.tmp_dir)
        self.assertEqual(Path(self.tmp_dir, name).read_text(), expected)

    def test_file_backend_dir_from_keyword_else_setting_one_file_per_instance(self):
        other = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, other, True)
        with self.settings(SMS_FILE_PATH=self.tmp_dir):
            from_setting = sms.get_connection("sms.backends.filebased.SmsBackend")
            from_keyword = sms.get_connection(
                "sms.backends.filebased.SmsBackend", file_path=other
            )
        for body in ("first", "second"):
            # No open(): each send opens, appends and closes the same file.
            from_setting.send_messages([sms.Message(body, ORIGINATOR, [RECIPIENT])])
        from_keyword.send_messages([sms.Message("kw", ORIGINATOR, [RECIPIENT])])
        (name,) = os.listdir(self.tmp_dir)
        self.assertRegex(name, r"^\d{8}-\d{6}-\d+\.log$")
        content = Path(self.tmp_dir, name).read_text()
        self.assertEqual(content.count(f"from: {ORIGINATOR}"), 2)
        self.assertEqual(len(os.listdir(other)), 1)

    def test_file_path_not_path_like_is_fspath_type_error_else_improperly_configured(
        self,
    ):
        with self.assertRaisesMessage(
            TypeError, "expected str, bytes or os.PathLike object, not object"
        ):
            sms.get_connection("sms.backends.filebased.SmsBackend", file_path=object())
        a_file = Path(self.tmp_dir, "file")
        a_file.write_text("")
        for file_path, named in ((None, "SMS_FILE_PATH"), (str(a_file), str(a_file))):
            with self.subTest(file_path=file_path), self.settings(SMS_FILE_PATH=None):
                with self.assertRaisesMessage(ImproperlyConfigured, named):
                    sms.get_connection(
                        "sms.backends.filebased.SmsBackend", file_path=file_path
                    )
        # Unwritable directories: tests/backends/test_filebased.py.


class LocmemAndDummyTests(SimpleTestCase):
    def test_locmem_outbox_plain_attribute_rebound_created_when_absent(self):
        if hasattr(sms, "outbox"):
            del sms.outbox
        connection = sms.get_connection("sms.backends.locmem.SmsBackend")
        self.assertEqual(sms.outbox, [])
        mine = sms.outbox = []
        connection.send_messages([sms.Message("x", ORIGINATOR, (RECIPIENT,))])
        self.assertIs(sms.outbox, mine)
        self.assertIsInstance(mine[0], sms.Message)
        self.assertEqual(mine[0].recipients, [RECIPIENT])
        del sms.outbox
        connection.send_messages([sms.Message("y", ORIGINATOR, [RECIPIENT])])
        self.assertEqual([m.body for m in sms.outbox], ["y"])

    def test_dummy_returns_len_messages_whatever_their_recipients(self):
        connection = sms.get_connection("sms.backends.dummy.SmsBackend")
        message = sms.Message()
        self.assertEqual(connection.send_messages([message, message, message]), 3)


@override_settings(
    TWILIO_ACCOUNT_SID="ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    TWILIO_AUTH_TOKEN="fake-token",
    MESSAGEBIRD_ACCESS_KEY="fake-key",
    SMS_STATUS_CALLBACK_URL=None,
    TWILIO_MESSAGING_SERVICE_SID=None,
)
# Provider tests touch no database: no suppression-list lookups.
@override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
class ProviderBackendTests(SimpleTestCase):
    def test_provider_client_built_once_in_init_reached_on_every_send(self):
        calls = []

        def create(**kwargs):
            calls.append(kwargs)
            return types.SimpleNamespace(sid=f"SM{len(calls)}", status="queued")

        connection = sms.get_connection("sms.backends.twilio.SmsBackend")
        client = connection.client
        connection.client.messages.create = create
        for body in ("one", "two"):
            sms.Message(body, ORIGINATOR, [RECIPIENT], connection=connection).send()
        self.assertIs(connection.client, client)
        self.assertEqual([c["body"] for c in calls], ["one", "two"])

        created = []

        def message_create(originator, recipients, body, params=None):
            created.append(body)
            return types.SimpleNamespace(id="mb1", recipients={"items": []})

        connection = sms.get_connection("sms.backends.messagebird.SmsBackend")
        client = connection.client
        connection.client.message_create = message_create
        for body in ("one", "two"):
            sms.Message(body, ORIGINATOR, [RECIPIENT], connection=connection).send()
        self.assertIs(connection.client, client)
        self.assertEqual(created, ["one", "two"])

    def test_provider_calls_exactly_create_per_recipient_message_create_per_50(self):
        calls = []
        connection = sms.get_connection("sms.backends.twilio.SmsBackend")
        connection.client.messages.create = lambda *args, **kwargs: calls.append(
            (args, kwargs)
        )
        sms.Message("Hi", ORIGINATOR, [RECIPIENT, OTHER], connection=connection).send()
        self.assertEqual(
            calls,
            [
                ((), {"to": RECIPIENT, "from_": ORIGINATOR, "body": "Hi"}),
                ((), {"to": OTHER, "from_": ORIGINATOR, "body": "Hi"}),
            ],
        )

        calls = []
        connection = sms.get_connection("sms.backends.messagebird.SmsBackend")
        connection.client.message_create = lambda *args, **kwargs: calls.append(
            (args, kwargs)
        )
        recipients = [f"+1206555{n:04d}" for n in range(100, 220)]
        sms.Message("Hi", ORIGINATOR, recipients, connection=connection).send()
        self.assertEqual(
            calls,
            [
                ((ORIGINATOR, recipients[:50], "Hi"), {}),
                ((ORIGINATOR, recipients[50:100], "Hi"), {}),
                ((ORIGINATOR, recipients[100:], "Hi"), {}),
            ],
        )

    def test_provider_sdk_clients_construct_offline_with_fake_credentials(self):
        # A dead proxy: any network call while constructing would fail.
        out = run_python(
            """
            import messagebird
            import twilio.rest
            from django.conf import settings
            settings.configure()
            import sms
            twilio.rest.Client("ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "fake-token")
            messagebird.Client("fake-key")
            for name, kwargs in (
                ("twilio", {"account_sid": "ACxx", "auth_token": "t"}),
                ("messagebird", {"access_key": "k"}),
            ):
                sms.get_connection(f"sms.backends.{name}.SmsBackend", **kwargs)
            print("constructed")
            """,
            HTTP_PROXY="http://127.0.0.1:9",
            HTTPS_PROXY="http://127.0.0.1:9",
            NO_PROXY="",
        )
        self.assertEqual(out, "constructed\n")


class DeliberateDepartureTests(SimpleTestCase):
    def test_departure_return_counts_messages_sent_in_full_not_recipients(self):
        messages = [
            sms.Message("ok", ORIGINATOR, [RECIPIENT, RECIPIENT]),
            sms.Message("half", ORIGINATOR, [RECIPIENT, OTHER]),
        ]
        for backend in DEV_BACKENDS:
            if backend.endswith("filebased.SmsBackend"):
                continue
            with self.subTest(backend=backend):
                kwargs = {"stream": io.StringIO()} if "console" in backend else {}
                connection = sms.get_connection(backend, **kwargs)
                self.assertEqual(connection.send_messages(messages), 2)
        connection = HalfFailingBackend(fail_silently=True)
        self.assertEqual(
            sms.send_mass_sms(
                [(m.body, m.originator, m.recipients) for m in messages],
                connection=connection,
            ),
            1,
        )
        message = sms.Message(
            "half", ORIGINATOR, [RECIPIENT, OTHER], connection=connection
        )
        self.assertEqual(message.send(fail_silently=True), 0)
        self.assertEqual([r.ok for r in message.results], [True, False])

    def test_departure_absent_vendor_setting_raises_improperly_configured(self):
        for backend, setting in (
            ("sms.backends.twilio.SmsBackend", "TWILIO_ACCOUNT_SID"),
            ("sms.backends.messagebird.SmsBackend", "MESSAGEBIRD_ACCESS_KEY"),
        ):
            with self.subTest(backend=backend), self.settings(**{setting: None}):
                with self.assertRaisesMessage(ImproperlyConfigured, setting):
                    sms.get_connection(backend)

    def test_departure_post_send_once_per_delivered_message_none_on_failure(self):
        seen = []

        def receiver(sender, instance, **kwargs):
            seen.append((sender, instance.body))

        post_send.connect(receiver)
        self.addCleanup(post_send.disconnect, receiver)
        sms.Message(
            "ok", ORIGINATOR, [RECIPIENT, OTHER], connection=CustomBackend()
        ).send()
        failing = HalfFailingBackend(fail_silently=True)
        sms.Message("half", ORIGINATOR, [RECIPIENT, OTHER], connection=failing).send()
        with self.assertRaises(RecipientRejected):
            sms.Message(
                "half", ORIGINATOR, [OTHER], connection=HalfFailingBackend()
            ).send()
        # A backend that only queues fires nothing now (the queue fires later;
        # tests/outbox checks send_queued_sms's one signal per recipient).
        queued = QueueingBackend()
        sms.Message("queued", ORIGINATOR, [RECIPIENT], connection=queued).send()
        self.assertEqual(len(queued.test_outbox), 1)
        self.assertEqual(seen, [(sms.Message, "ok")])
