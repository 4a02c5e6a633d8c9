"""Conversation state on disk that a killed process cannot corrupt, on PTB's public
``BasePersistence`` alone.

PTB's PicklePersistence rewrites its file in place: a process killed (SIGKILL, power cut of the
container) in the middle of a write leaves a truncated pickle, and the next start fails with
"Something went wrong unpickling". Here every write goes to a temporary file in the same
directory that then replaces the old one in a single rename, so the file on disk is always
either the previous state or the new one. The changes of one persistence round are written
together, once. (The single-process default; several instances keep the state in the
database instead: ``bot.shared_state``.)
"""

from __future__ import annotations

import copy
import os
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from telegram import Update
from telegram.ext import Application, BasePersistence, PersistenceInput

from bot.shared_state import DatabasePersistence, StateConflict, private_chat_id

Data = dict[Any, Any]
# The shapes BasePersistence's methods take (as PTB spells them in its type hints).
ConversationKey = tuple[int | str, ...]
ConversationDict = dict[ConversationKey, object]
CDCData = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]


class AtomicPicklePersistence(BasePersistence[Data, Data, Data]):
    """user_data, chat_data, bot_data, callback data and conversations in one pickle file,
    read once at start-up and replaced whole (atomically) when something changed."""

    def __init__(
        self,
        filepath: str | Path,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
    ) -> None:
        super().__init__(store_data=store_data, update_interval=update_interval)
        self.filepath = Path(filepath)
        self._state: dict[str, Any] | None = None
        self._batching = False
        self._dirty = False

    def _loaded(self) -> dict[str, Any]:
        if self._state is None:
            try:
                with self.filepath.open("rb") as file:
                    found = pickle.load(file)  # noqa: S301 - the bot's own file
            except FileNotFoundError:
                found = {}
            except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
                raise TypeError(f"Something went wrong unpickling {self.filepath.name}") from exc
            self._state = {
                "user_data": found.get("user_data") or {},
                "chat_data": found.get("chat_data") or {},
                "bot_data": found.get("bot_data") or {},
                "callback_data": found.get("callback_data"),
                "conversations": found.get("conversations") or {},
            }
        return self._state

    @contextmanager
    def writes_batched(self) -> Iterator[None]:
        """Inside this block changes are only noted; the file is written once, at its end.

        PTB hands every changed user and conversation over in a call of its own: with 1,000
        active chats, writing the file on each would be 2,000 writes of 1,000 chats every
        few seconds. :class:`BatchingApplication` runs each round of those calls inside
        this block.
        """
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            if self._dirty:
                self._write()

    def _changed(self) -> None:
        self._dirty = True
        if not self._batching:
            self._write()

    def _write(self) -> None:
        handle, name = tempfile.mkstemp(
            prefix=f".{self.filepath.name}.", suffix=".tmp", dir=self.filepath.parent
        )
        temporary = Path(name)
        try:
            with os.fdopen(handle, "wb") as file:
                self._dump(file, self._loaded())
            os.replace(temporary, self.filepath)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._dirty = False

    @staticmethod
    def _dump(file: IO[bytes], state: dict[str, Any]) -> None:
        pickle.dump(state, file, protocol=pickle.HIGHEST_PROTOCOL)

    def _put(self, kind: str, key: Any, data: Any) -> None:
        stored = self._loaded()[kind]
        if stored.get(key) != data:
            stored[key] = copy.deepcopy(data)
            self._changed()

    def _put_whole(self, kind: str, data: Any) -> None:
        state = self._loaded()
        if state[kind] != data:
            state[kind] = copy.deepcopy(data)
            self._changed()

    # -- BasePersistence ----------------------------------------------------------------------

    async def get_user_data(self) -> dict[int, Data]:
        return copy.deepcopy(self._loaded()["user_data"])

    async def get_chat_data(self) -> dict[int, Data]:
        return copy.deepcopy(self._loaded()["chat_data"])

    async def get_bot_data(self) -> Data:
        return copy.deepcopy(self._loaded()["bot_data"])

    async def get_callback_data(self) -> CDCData | None:
        return copy.deepcopy(self._loaded()["callback_data"])

    async def get_conversations(self, name: str) -> ConversationDict:
        return copy.deepcopy(self._loaded()["conversations"].get(name, {}))

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        conversations = self._loaded()["conversations"].setdefault(name, {})
        if conversations.get(key) == new_state:
            return
        if new_state is None:
            conversations.pop(key, None)
        else:
            conversations[key] = new_state
        self._changed()

    async def update_user_data(self, user_id: int, data: Data) -> None:
        self._put("user_data", user_id, data)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        self._put("chat_data", chat_id, data)

    async def update_bot_data(self, data: Data) -> None:
        self._put_whole("bot_data", data)

    async def update_callback_data(self, data: CDCData) -> None:
        self._put_whole("callback_data", data)

    async def drop_chat_data(self, chat_id: int) -> None:
        if self._loaded()["chat_data"].pop(chat_id, None) is not None:
            self._changed()

    async def drop_user_data(self, user_id: int) -> None:
        if self._loaded()["user_data"].pop(user_id, None) is not None:
            self._changed()

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Nothing to read again: one process owns the file."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """Nothing to read again: one process owns the file."""

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """Nothing to read again: one process owns the file."""

    async def flush(self) -> None:
        if self._dirty:
            self._write()


class BatchingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """An Application whose persistence rounds write the state file once, not once per chat,
    and that, with the state in the database, handles each update of a private chat inside
    that chat's session (bot.shared_state: read fresh before, written back after)."""

    async def process_update(self, update: object) -> None:
        persistence = self.persistence
        chat_id = private_chat_id(update)
        if not isinstance(persistence, DatabasePersistence) or chat_id is None:
            await super().process_update(update)
            return
        assert isinstance(update, Update)
        try:
            session = await persistence.open(self, chat_id, update)
        except StateConflict:
            await persistence.ask_to_try_again(self, chat_id)
            return
        except Exception as exc:  # the database is unreachable: say so, handle nothing
            await self.process_error(update, exc)
            return
        await persistence.run(session, super().process_update(update))
        try:
            await persistence.close(self, session)
        except Exception as exc:
            await self.process_error(update, exc)

    async def update_persistence(self) -> None:
        persistence = self.persistence
        if isinstance(persistence, AtomicPicklePersistence):
            with persistence.writes_batched():
                await super().update_persistence()
        else:
            await super().update_persistence()
