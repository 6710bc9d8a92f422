"""Tests for the pooled HTTP sessions of the provider SDKs, over real HTTP."""

import os
from unittest import mock

from django.test import SimpleTestCase

from sms.backends._http import PooledClient, PooledSession, retarget
from sms.testing import FakeProvider, Reply

NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


class EchoProvider(FakeProvider):
    def respond(self, request):
        return Reply(200, {"path": request.path})


class RetargetTests(SimpleTestCase):
    def test_without_api_url_the_url_is_kept(self):
        url = "https://rest.example.com/v1/messages"
        self.assertEqual(retarget(url, None), url)

    def test_scheme_and_host_replaced_path_kept(self):
        self.assertEqual(
            retarget("https://rest.example.com/v1/messages", "http://127.0.0.1:9/"),
            "http://127.0.0.1:9/v1/messages",
        )

    def test_only_a_matching_host_is_replaced(self):
        host = r"[a-z.]+\.twilio\.com"
        self.assertEqual(
            retarget("https://api.twilio.com/2010-04-01/x", "http://fake", host),
            "http://fake/2010-04-01/x",
        )
        other = "https://elsewhere.example.com/x"
        self.assertEqual(retarget(other, "http://fake", host), other)


class PooledTests(SimpleTestCase):
    def setUp(self):
        patcher = mock.patch.dict(os.environ, NO_PROXY)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.fake = self.enterContext(EchoProvider())

    def test_session_sends_to_api_url_and_keeps_one_connection(self):
        session = PooledSession(self.fake.url + "/", timeout=5)
        self.addCleanup(session.close)
        for _ in range(3):
            response = session.get("https://api.example.com/v1/sms")
            self.assertEqual(response.json(), {"path": "/v1/sms"})
        self.assertEqual(self.fake.connections, 1)

    def test_client_opens_and_closes_one_session(self):
        client = PooledClient()
        client.pool(self.fake.url, timeout=5)
        client.session_request("GET", self.fake.url + "/a")
        client.session_request("GET", self.fake.url + "/b")
        self.assertEqual(self.fake.connections, 2)  # no session: one per call
        self.assertIs(client.open_session(), True)
        self.assertIs(client.open_session(), False)
        client.session_request("GET", self.fake.url + "/c")
        client.session_request("GET", self.fake.url + "/d")
        self.assertEqual(self.fake.connections, 3)
        client.close_session()
        self.assertIsNone(client.session)
        self.assertEqual([r.path for r in self.fake.requests], ["/a", "/b", "/c", "/d"])
