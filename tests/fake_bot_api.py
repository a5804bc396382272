"""A fake Telegram Bot API server on 127.0.0.1, and a runner for the real bot against it.

Usage::

    with FakeBotApi() as api:                        # serves http://127.0.0.1:<port>/bot<token>/<method>
        api.inject(api.private_text(user=7, text="Who chaired it?"))
        reply = api.wait_for(lambda: api.sent(chat_id=7))

The server implements the methods the bot calls, records every call with its
decoded parameters, long-polls ``getUpdates`` like Telegram (or, once the bot called
``setWebhook``, POSTs each update to the webhook with its secret token in
``X-Telegram-Bot-Api-Secret-Token``, retrying until it gets 200), delivering only the
update types the bot asked for in ``allowed_updates``, validates the HTML
of ``sendMessage``/``editMessageText`` the way Telegram does (allowed tags only,
proper nesting, only &lt; &gt; &amp; &quot; and numeric entities, links only to
http(s)/tg URLs, at most 4096 characters of visible text) and answers 400
"can't parse entities" otherwise.  Faults (400, 429 with retry_after, 500) can be
queued per method.

Files: ``api.private_document(user, "report.pdf", data)`` registers a file and
builds the message carrying it; ``getFile`` answers its ``file_path`` (400 "file is
too big" over 20 MB, like the public Bot API) and ``GET /file/bot<token>/<file_path>``
serves its bytes, recorded as a call to the pseudo-method ``download``.
``api.cut_next_download()`` sends half a file and drops the connection.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Callable

from aiohttp import web

TOKEN = "123456789:AAFakeTokenForTests_do-not-log-me"
# The secret token tests give a bot in webhook mode (never logged either).
WEBHOOK_SECRET = "webhook-secret-for-tests_never-logged"
BOT_ID = 123456789
BOT_USERNAME = "cited_answers_bot"
MAX_TEXT = 4096
# The public Bot API serves downloads of files up to 20 MB (getFile fails above).
MAX_DOWNLOAD = 20 * 1024 * 1024
# Pseudo-statuses for faults below HTTP: a dropped connection and a request left hanging.
DROP = 0
HANG = -1
SLOW = -2  # not a fault: the call is held, then done as usual

# Parameters the Bot API takes as plain strings; everything else PTB sends JSON-encoded.
_STRING_PARAMS = {"text", "parse_mode", "action", "callback_query_id", "url", "language_code", "data", "caption"}

# Tag -> attributes allowed on it (Telegram's HTML parse mode).
_TAGS: dict[str, set[str]] = {
    "b": set(), "strong": set(), "i": set(), "em": set(), "u": set(), "ins": set(),
    "s": set(), "strike": set(), "del": set(), "tg-spoiler": set(), "span": {"class"},
    "a": {"href"}, "code": {"class"}, "pre": set(), "blockquote": {"expandable"}, "tg-emoji": {"emoji-id"},
}
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class HTMLRejected(ValueError):
    pass


class _TelegramHTML(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []

    def fail(self, why: str):
        raise HTMLRejected(f"Bad Request: can't parse entities: {why}")

    def handle_starttag(self, tag, attrs):
        if tag not in _TAGS:
            self.fail(f"unsupported start tag \"{tag}\"")
        for name, value in attrs:
            if name not in _TAGS[tag]:
                self.fail(f"unsupported attribute \"{name}\" of tag \"{tag}\"")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self.fail("span must have class tg-spoiler")
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if not re.fullmatch(r"(https?|tg)://[^\s<>\"]+", href):
                self.fail(f"wrong URL in a link: {href!r}")
        if tag == "blockquote" and "blockquote" in self.stack:
            self.fail("blockquote can't be nested")
        if ("pre" in self.stack or "code" in self.stack) and not (tag == "code" and self.stack[-1:] == ["pre"]):
            self.fail(f"tag \"{tag}\" can't be inside pre or code")
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.fail(f"unsupported self-closing tag \"{tag}\"")

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.fail(f"unmatched end tag \"{tag}\"")
        self.stack.pop()

    def handle_data(self, data):
        for char in "<>&":
            if char in data:
                self.fail(f"unescaped {char!r} in text")
        self.text.append(data)

    def handle_entityref(self, name):
        if name not in _ENTITIES:
            self.fail(f"unsupported entity &{name};")
        self.text.append(_ENTITIES[name])

    def handle_charref(self, name):
        self.text.append(html.unescape(f"&#{name};"))

    def handle_comment(self, data):
        self.fail("comments are not supported")

    def handle_decl(self, decl):
        self.fail("declarations are not supported")

    def handle_pi(self, data):
        self.fail("processing instructions are not supported")

    def unknown_decl(self, data):
        self.fail("unknown declaration")


def parse_telegram_html(text: str) -> str:
    """The visible text of ``text`` as Telegram would parse it; raises HTMLRejected if it would not."""
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.rawdata:  # HTMLParser keeps what it could not parse, e.g. a lone "<" or "&" at the end
        parser.fail(f"can't parse {parser.rawdata[:20]!r}")
    if parser.stack:
        parser.fail(f"unclosed tag \"{parser.stack[-1]}\"")
    return "".join(parser.text)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    """One request the bot made: method, decoded parameters, our HTTP status and response."""

    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None
    error: str | None = None
    at: float = field(default_factory=time.perf_counter)


@dataclass
class Delivery:
    """One attempt to POST an update to the webhook: our attempt number and the status we got (0: no answer)."""

    update_id: int
    attempt: int
    status: int


class FakeBotApi:
    """The fake server; runs its own event loop in a background thread."""

    def __init__(self, token: str = TOKEN, bot_id: int = BOT_ID, username: str = BOT_USERNAME):
        self.token = token
        self.bot = {"id": bot_id, "is_bot": True, "first_name": "Cited Answers", "username": username}
        self.calls: list[Call] = []
        self.injected_at: dict[int, float] = {}  # update_id -> time.perf_counter() at injection
        self.commands: dict[str, list] = {}  # scope (JSON) -> commands, for users of any language
        self.localized_commands: dict[tuple[str, str], list] = {}  # (language_code, scope) -> commands
        self._cond = threading.Condition()
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._faults: dict[str, list[tuple[int, str, int | None]]] = {}
        self._messages: dict[tuple[int, int], dict] = {}
        self._polls_released = False
        # Digest targets: channel usernames the server knows, chats the bot was removed from,
        # and who administers which group (for getChatMember).
        self.channels: dict[str, int] = {}
        self.removed_chats: set[int] = set()
        self.chat_admins: dict[int, set[int]] = {}
        # Webhook mode: the last setWebhook's parameters, and every delivery attempt made.
        self.webhook: dict | None = None
        self.deliveries: list[Delivery] = []
        self._session = None  # aiohttp.ClientSession for webhook deliveries, on the server's loop
        self._delivering: set[asyncio.Task] = set()
        # Files the bot can fetch: file_id -> (file_path, bytes); the size getFile reports may differ.
        self.files: dict[str, tuple[str, bytes, int]] = {}
        self._file_ids = itertools.count(1)
        self._cut_downloads = 0
        self.allowed_updates: list[str] | None = None  # as the bot last asked (getUpdates or setWebhook)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_update: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> "FakeBotApi":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start_server())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-bot-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Bot API server did not start")

    async def _start_server(self) -> None:
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        for task in list(self._delivering):
            task.cancel()
        await asyncio.gather(*self._delivering, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        # Nothing the bot sent may carry its token (a reply, a button, a URL).
        secret = self.token.split(":", 1)[1]
        leaked = [c.method for c in self.calls if secret in json.dumps(c.params, ensure_ascii=False, default=str)]
        assert not leaked, f"the bot token was sent in {leaked}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------ test side

    def inject(self, update: dict) -> int:
        """Queue an update for the bot's next getUpdates, or POST it to the webhook if one is set; returns its update_id."""
        update = dict(update, update_id=next(self._update_ids))
        with self._cond:
            self.injected_at[update["update_id"]] = time.perf_counter()
            webhook = self.webhook
            if webhook is None:
                self._updates.append(update)
        if webhook is None:
            self._loop.call_soon_threadsafe(self._new_update.set)
        else:
            self._loop.call_soon_threadsafe(self._deliver_soon, update)
        return update["update_id"]

    def delivered(self, update_id: int) -> bool:
        """The webhook answered 200 to this update."""
        with self._cond:
            return any(d.update_id == update_id and d.status == 200 for d in self.deliveries)

    def release_polls(self) -> None:
        """End long polls now, empty: lets a stopping bot finish without waiting out its timeout."""
        self._polls_released = True
        self._loop.call_soon_threadsafe(self._new_update.set)

    def resume_polls(self) -> None:
        """Long-poll again (for a bot started after another one stopped)."""
        self._polls_released = False

    def drop_next(self, method: str, times: int = 1) -> None:
        """Close the connection on the next ``times`` calls of ``method`` without answering."""
        self.fail_next(method, DROP, "connection dropped", times=times)

    def hang_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` (past the client's timeout), undone."""
        self.fail_next(method, HANG, "timed out", retry_after=seconds, times=times)

    def slow_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds``, then do them as usual."""
        self.fail_next(method, SLOW, "slow", retry_after=seconds, times=times)

    def fail_next(self, method: str, status: int, description: str, retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with an error instead of doing them."""
        with self._cond:
            self._faults.setdefault(method, []).extend([(status, description, retry_after)] * times)

    def calls_to(self, method: str, ok_only: bool = True) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendMessage calls (to ``chat_id`` if given), in order."""
        return [c for c in self.calls_to("sendMessage") if chat_id is None or c.params.get("chat_id") == chat_id]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Block until ``predicate()`` is truthy (re-checked on every call); return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    summary = [(c.method, c.status, c.params.get("text", "")[:60]) for c in self.calls[-15:]]
                    raise AssertionError(f"timed out waiting; last calls: {summary}")
                self._cond.wait(min(remaining, 0.5))

    def settle(self, seconds: float = 0.5) -> None:
        """Wait until no call has arrived for ``seconds`` (to check that nothing more is sent)."""
        while True:
            with self._cond:
                last = self.calls[-1].at if self.calls else 0.0
            idle = time.perf_counter() - last
            if idle >= seconds:
                return
            time.sleep(seconds - idle)

    def cut_next_download(self, times: int = 1) -> None:
        """Serve only the first half of the next ``times`` file downloads, then drop the connection."""
        with self._cond:
            self._cut_downloads += times

    def downloads(self) -> list[Call]:
        return self.calls_to("download", ok_only=False)

    # Update builders ---------------------------------------------------

    def add_file(self, data: bytes, file_name: str = "file", *, file_size: int | None = None) -> dict:
        """Register a file on the server; returns the Bot API ``Document`` describing it."""
        number = next(self._file_ids)
        file_id = f"BQACAgIAAxkBAAI{number:06d}"
        path = f"documents/file_{number}.{file_name.rsplit('.', 1)[-1] if '.' in file_name else 'bin'}"
        size = len(data) if file_size is None else file_size
        with self._cond:
            self.files[file_id] = (path, data, size)
        return {"file_id": file_id, "file_unique_id": f"AgAD{number:06d}", "file_name": file_name, "file_size": size}

    def private_document(
        self,
        user_id: int,
        file_name: str | None,
        data: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        forward_from_channel: dict | None = None,
        language_code: str | None = None,
    ) -> dict:
        """A message in the private chat with ``user_id`` carrying a file (``file_size`` may lie, as a test needs)."""
        document = self.add_file(data, file_name or "file", file_size=file_size)
        if file_name is None:
            del document["file_name"]
        if mime_type:
            document["mime_type"] = mime_type
        update = self.private_text(user_id, "", language_code=language_code)
        message = update["message"]
        del message["text"]
        message["document"] = document
        if caption:
            message["caption"] = caption
        if forward_from_channel:
            message["forward_origin"] = forward_from_channel
        return update

    def private_photo(self, user_id: int) -> dict:
        update = self.private_text(user_id, "")
        message = update["message"]
        del message["text"]
        message["photo"] = [{"file_id": "AgACphoto", "file_unique_id": "AQADphoto", "width": 90, "height": 90, "file_size": 1200}]
        return update

    def channel(self, chat_id: int, username: str | None = "news", title: str = "News desk") -> dict:
        chat = {"id": chat_id, "type": "channel", "title": title}
        if username:
            chat["username"] = username
        return chat

    def channel_post(self, chat: dict, text: str, *, message_id: int | None = None, reply_to: dict | None = None) -> dict:
        """A ``channel_post`` update: ``text`` posted in the channel ``chat`` (see ``channel``)."""
        post = {
            "message_id": next(self._message_ids) if message_id is None else message_id,
            "date": int(time.time()),
            "chat": chat,
            "sender_chat": chat,
            "text": text,
        }
        if text.startswith("/"):
            post["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_length(text.split()[0])}]
        if reply_to is not None:
            post["reply_to_message"] = reply_to
        return {"channel_post": post}

    def edited_channel_post(self, post_update: dict, text: str) -> dict:
        """An ``edited_channel_post`` update: the post of ``post_update`` now reads ``text``."""
        post = dict(post_update.get("channel_post") or post_update["edited_channel_post"], text=text)
        post["edit_date"] = int(time.time())
        return {"edited_channel_post": post}

    def forwarded_post(self, user_id: int, post_update: dict) -> dict:
        """The channel post of ``post_update``, forwarded by ``user_id`` to the bot's private chat."""
        post = post_update["channel_post"]
        update = self.private_text(user_id, post["text"])
        update["message"]["forward_origin"] = self.channel_origin(post["chat"], post["message_id"], post["date"])
        return update

    def channel_origin(self, chat: dict, message_id: int, date: int | None = None) -> dict:
        return {"type": "channel", "chat": chat, "message_id": message_id, "date": date or int(time.time())}

    # Update builders (messages) -----------------------------------------

    def user(self, user_id: int, name: str = "Ada", language_code: str | None = None) -> dict:
        """A user; ``language_code`` is their Telegram app's language as Telegram sends it ("ru", "es-419")."""
        user = {"id": user_id, "is_bot": False, "first_name": name}
        if language_code:
            user["language_code"] = language_code
        return user

    def message(
        self,
        chat: dict,
        user_id: int,
        text: str,
        *,
        entities: list | None = None,
        reply_to: dict | None = None,
        language_code: str | None = None,
    ) -> dict:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id, language_code=language_code),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            entities = [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}] + (entities or [])
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return {"message": message}

    def private_text(self, user_id: int, text: str, *, language_code: str | None = None) -> dict:
        return self.message({"id": user_id, "type": "private", "first_name": "Ada"}, user_id, text, language_code=language_code)

    def group_text(
        self, chat_id: int, user_id: int, text: str, *, reply_to: dict | None = None, language_code: str | None = None
    ) -> dict:
        entities = []
        mention = f"@{self.bot['username']}"
        if mention in text:
            offset = text.index(mention)
            entities.append({"type": "mention", "offset": utf16_length(text[:offset]), "length": utf16_length(mention)})
        chat = {"id": chat_id, "type": "supergroup", "title": "Readers"}
        return self.message(chat, user_id, text, entities=entities, reply_to=reply_to, language_code=language_code)

    def bot_removed(self, chat_id: int, by_user: int) -> dict:
        """A my_chat_member update: the bot was kicked from group ``chat_id``."""
        member = {"user": self.bot}
        return {
            "my_chat_member": {
                "chat": {"id": chat_id, "type": "supergroup", "title": "Readers"},
                "from": self.user(by_user),
                "date": int(time.time()),
                "old_chat_member": dict(member, status="member"),
                "new_chat_member": dict(member, status="kicked", until_date=0),
            }
        }

    def button_press(self, user_id: int, sent: Call, data: str, *, language_code: str | None = None) -> dict:
        """A callback_query update: ``user_id`` pressed the button with ``data`` under the sent message."""
        return {
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": self.user(user_id, language_code=language_code),
                "chat_instance": "fake-chat-instance",
                "message": sent.result,
                "data": data,
            }
        }

    # ------------------------------------------------------------ server side

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        if request.match_info["token"] != self.token:
            return self._error(Call(method, params), 401, "Unauthorized")
        call = Call(method, params)
        with self._cond:
            faults = self._faults.get(method)
            fault = faults.pop(0) if faults else None
        if fault and fault[0] == SLOW:
            await asyncio.sleep(fault[2])
            fault = None
        if fault:
            status, description, retry_after = fault
            if status == DROP:  # the connection dies before any answer; nothing was done
                call.status, call.error = DROP, description
                self._record(call)
                request.transport.close()
                return web.Response(status=500)
            if status == HANG:  # no answer within the client's timeout; nothing was done
                call.status, call.error = HANG, description
                self._record(call)
                await asyncio.sleep(retry_after)
                return web.Response(status=504)
            return self._error(call, status, description, {"retry_after": retry_after} if retry_after else None)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(call, 404, "Not Found: method not found")
        try:
            result = await handler(params) if asyncio.iscoroutinefunction(handler) else handler(params)
        except HTMLRejected as exc:
            return self._error(call, 400, str(exc))
        except _ApiError as exc:
            return self._error(call, exc.status, str(exc))
        if method != "getUpdates" or result:  # empty long polls are noise
            call.result = result
            self._record(call)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post() if request.can_read_body else {}
        params: dict[str, Any] = dict(request.query)
        for key, value in form.items():
            if isinstance(value, web.FileField):  # an uploaded file (sendPhoto): keep its bytes
                params[key] = value.file.read()
                continue
            if not isinstance(value, str):
                continue
            if key in _STRING_PARAMS:
                params[key] = value
            else:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
        return params

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def _error(self, call: Call, status: int, description: str, parameters: dict | None = None) -> web.Response:
        call.status, call.error = status, description
        self._record(call)
        body = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    def _check_text(self, params: dict) -> str:
        text = params.get("text")
        if not isinstance(text, str):
            raise _ApiError("Bad Request: message text is empty")
        visible = parse_telegram_html(text) if params.get("parse_mode") == "HTML" else text
        if not visible.strip():
            raise _ApiError("Bad Request: message text is empty")
        if utf16_length(visible) > MAX_TEXT:
            raise _ApiError("Bad Request: message is too long")
        return visible

    def _api_getFile(self, params):
        file_id = params.get("file_id")
        with self._cond:
            known = self.files.get(file_id)
        if known is None:
            raise _ApiError("Bad Request: invalid file_id")
        path, data, size = known
        if size > MAX_DOWNLOAD:
            raise _ApiError("Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": "AgAD" + file_id[-6:], "file_size": size, "file_path": path}

    async def _download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        call = Call("download", {"file_path": path})
        if request.match_info["token"] != self.token:
            call.status = 401
            self._record(call)
            return web.Response(status=401, text="Unauthorized")
        with self._cond:
            data = next((d for p, d, _ in self.files.values() if p == path), None)
            cut = self._cut_downloads > 0 and data is not None
            if cut:
                self._cut_downloads -= 1
        if data is None:
            call.status = 404
            self._record(call)
            return web.Response(status=404, text="Not Found")
        if not cut:
            self._record(call)
            return web.Response(body=data, content_type="application/octet-stream")
        # Half the file, then the connection drops: the client must not keep what it got.
        call.status, call.error = DROP, "connection dropped halfway"
        self._record(call)
        response = web.StreamResponse(headers={"Content-Length": str(len(data)), "Content-Type": "application/octet-stream"})
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        request.transport.close()
        return response

    def _api_getMe(self, params):
        return dict(self.bot, can_join_groups=True, can_read_all_group_messages=False, supports_inline_queries=False)

    def _api_deleteWebhook(self, params):
        with self._cond:
            self.webhook = None
        return True

    def _api_setWebhook(self, params):
        if not str(params.get("url", "")).startswith(("http://", "https://")):
            raise _ApiError("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._cond:
            self.webhook = {
                "url": params["url"],
                "secret_token": params.get("secret_token"),
                "allowed_updates": params.get("allowed_updates"),
                "max_connections": int(params.get("max_connections") or 40),
            }
            if params.get("allowed_updates") is not None:
                self.allowed_updates = list(params["allowed_updates"])
            waiting, self._updates = self._updates, []
        for update in waiting:  # what was queued for getUpdates now goes to the webhook
            self._deliver_soon(update)
        return True

    def _api_getWebhookInfo(self, params):
        with self._cond:
            url = self.webhook["url"] if self.webhook else ""
        return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self._delivering)}

    # Webhook deliveries -------------------------------------------------

    def _deliver_soon(self, update: dict) -> None:
        with self._cond:
            allowed = (self.webhook or {}).get("allowed_updates")
        if allowed and not set(update) - {"update_id"} <= set(allowed):
            return  # Telegram never delivers a type the bot did not ask for
        task = self._loop.create_task(self._deliver(update))
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def _deliver(self, update: dict) -> None:
        """POST ``update`` to the webhook until it answers 200, as Telegram does (backing off, up to a minute)."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        delay = 0.05
        for attempt in itertools.count(1):
            with self._cond:
                webhook = self.webhook
            if webhook is None:  # deleted meanwhile: back to getUpdates
                with self._cond:
                    self._updates.append(update)
                self._new_update.set()
                return
            headers = {"Content-Type": "application/json"}
            if webhook["secret_token"]:
                headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
            try:
                async with self._session.post(webhook["url"], data=json.dumps(update), headers=headers) as response:
                    status = response.status
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                status = 0
            with self._cond:
                self.deliveries.append(Delivery(update["update_id"], attempt, status))
                self._cond.notify_all()
            if status == 200 or attempt >= 60:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _api_setMyCommands(self, params):
        scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
        language = params.get("language_code") or ""
        if language and not (len(language) == 2 and language.isalpha() and language.islower()):
            raise _ApiError("Bad Request: invalid language code specified")  # Telegram takes ISO 639-1 codes only
        for command in params["commands"]:
            if not 1 <= len(command.get("description", "")) <= 256:
                raise _ApiError("Bad Request: command description must be 1-256 characters")
        if language:
            self.localized_commands[(language, scope)] = params["commands"]
        else:
            self.commands[scope] = params["commands"]
        return True

    def _api_getMyCommands(self, params):
        scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
        language = params.get("language_code") or ""
        return self.localized_commands.get((language, scope)) or self.commands.get(scope, [])

    def _api_sendChatAction(self, params):
        return True

    def _api_answerCallbackQuery(self, params):
        if utf16_length(params.get("text") or "") > 200:  # Telegram's limit for the notice
            raise _ApiError("Bad Request: MESSAGE_TOO_LONG")
        return True

    def _chat_id(self, value) -> int:
        if isinstance(value, str) and value.startswith("@"):
            if value not in self.channels:
                raise _ApiError("Bad Request: chat not found")
            return self.channels[value]
        chat_id = int(value)
        if chat_id in self.removed_chats:
            raise _ApiError("Forbidden: bot was kicked from the supergroup chat", status=403)
        return chat_id

    def _api_getChatMember(self, params):
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = "administrator" if user_id in self.chat_admins.get(chat_id, set()) else "member"
        member = {"status": status, "user": self.user(user_id)}
        if status == "administrator":
            member.update(
                can_be_edited=False, is_anonymous=False, can_manage_chat=True, can_delete_messages=True,
                can_manage_video_chats=True, can_restrict_members=True, can_promote_members=False,
                can_change_info=True, can_invite_users=True, can_post_stories=False, can_edit_stories=False,
                can_delete_stories=False,
            )
        return member

    def _api_sendMessage(self, params):
        visible = self._check_text(params)
        chat_id = self._chat_id(params["chat_id"])
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id in self.channels.values():
            chat = {"id": chat_id, "type": "channel", "title": "News"}
        elif chat_id < 0:
            chat["title"] = "Readers"
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot,
            "text": visible,
        }
        if (params.get("reply_markup") or {}).get("inline_keyboard"):  # as Telegram: only inline keyboards come back
            message["reply_markup"] = params["reply_markup"]
        with self._cond:
            self._messages[(chat_id, message["message_id"])] = message
        return message

    def _api_sendPhoto(self, params):
        photo = params.get("photo")
        if not isinstance(photo, bytes) or not photo.startswith(b"\x89PNG\r\n\x1a\n"):
            raise _ApiError("Bad Request: IMAGE_PROCESS_FAILED")
        caption = params.get("caption", "")
        visible = parse_telegram_html(caption) if params.get("parse_mode") == "HTML" else caption
        if utf16_length(visible) > 1024:
            raise _ApiError("Bad Request: message caption is too long")
        chat_id = self._chat_id(params["chat_id"])
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        size = {"file_id": f"photo{next(self._message_ids)}", "file_unique_id": "u", "width": 960, "height": 432}
        return {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat, "from": self.bot,
                "photo": [size], "caption": visible}

    def _api_editMessageText(self, params):
        visible = self._check_text(params)
        key = (int(params["chat_id"]), int(params["message_id"]))
        with self._cond:
            message = self._messages.get(key)
            if message is None:
                raise _ApiError("Bad Request: message to edit not found")
            if message["text"] == visible and not params.get("reply_markup"):
                raise _ApiError("Bad Request: message is not modified")
            message = dict(message, text=visible, edit_date=int(time.time()))
            self._messages[key] = message
        return message

    async def _api_getUpdates(self, params):
        if self.webhook is not None:
            raise _ApiError("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", status=409)
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        if params.get("allowed_updates") is not None:
            self.allowed_updates = list(params["allowed_updates"])
        while True:
            with self._cond:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed
                if self.allowed_updates:  # Telegram never delivers a type the bot did not ask for
                    self._updates = [u for u in self._updates if set(u) - {"update_id"} <= set(self.allowed_updates)]
                pending = [u for u in self._updates if u["update_id"] >= offset][:limit]
                self._new_update.clear()
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0 or self._polls_released:
                return pending
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except asyncio.TimeoutError:
                pass


class _ApiError(Exception):
    def __init__(self, description: str, status: int = 400):
        super().__init__(description)
        self.status = status


class BotRunner:
    """The real Application, built by ``bot.app``, polling a FakeBotApi from its own thread."""

    def __init__(self, application):
        self.application = application
        self.api: FakeBotApi | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.crashed: BaseException | None = None

    def start(self, api: FakeBotApi, *, telegram=None, secret: str | None = None) -> "BotRunner":
        """Run the bot; with ``telegram`` (a TelegramConfig with ``webhook_url``) as a webhook, else long polling."""
        from bot.app import run_polling, run_webhook

        self.api = api
        api.resume_polls()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            try:
                if telegram is not None and telegram.webhook_url:
                    run_webhook(self.application, telegram, secret or "", stop_signals=None)
                else:
                    run_polling(self.application, stop_signals=None, poll_interval=0.0, timeout=1)
            except BaseException as exc:  # surfaced by start() / stop()
                self.crashed = exc

        self._thread = threading.Thread(target=run, name="bot", daemon=True)
        self._thread.start()
        # Polling has begun once the first getUpdates (even an empty one) reaches the server.
        deadline = time.monotonic() + 60
        while not self.application.running:
            if self.crashed or time.monotonic() > deadline:
                raise RuntimeError(f"bot did not start: {self.crashed!r}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.loop and self._thread and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.application.stop_running)
            self.api.release_polls()
            self._thread.join(30)
        if self.crashed:
            raise self.crashed
