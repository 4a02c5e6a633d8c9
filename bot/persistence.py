"""Conversation state on disk that a killed process cannot corrupt.

PTB's PicklePersistence rewrites its file in place: a process killed (SIGKILL, power cut of the
container) in the middle of a write leaves a truncated pickle, and the next start fails with
"Something went wrong unpickling". Here every write goes to a temporary file in the same
directory that then replaces the old one in a single rename, so the file on disk is always
either the previous state or the new one. The changes of one persistence round are written
together, once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, PicklePersistence

from bot.shared_state import DatabasePersistence, StateConflict, private_chat_id


class AtomicPicklePersistence(PicklePersistence[Any, Any, Any]):
    _batching = False
    _dirty = False

    @contextmanager
    def writes_batched(self) -> Iterator[None]:
        """Inside this block changes are only noted; the file is written once, at its end.

        PTB hands every changed user and conversation over in a call of its own, and
        PicklePersistence rewrites the whole file on each: with 1,000 active chats that is
        2,000 writes of 1,000 chats every few seconds. :class:`BatchingApplication` runs each
        round of those calls inside this block.
        """
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            if self._dirty:
                self._dirty = False
                self._write()

    def _dump_singlefile(self) -> None:
        if self._batching:
            self._dirty = True
        else:
            self._write()

    def _write(self) -> None:
        self._dump_file(
            self.filepath,
            {
                "conversations": self.conversations,
                "user_data": self.user_data,
                "chat_data": self.chat_data,
                "bot_data": self.bot_data,
                "callback_data": self.callback_data,
            },
        )

    def _dump_file(self, filepath: Path, data: object) -> None:
        handle, name = tempfile.mkstemp(
            prefix=f".{filepath.name}.", suffix=".tmp", dir=filepath.parent
        )
        os.close(handle)
        temporary = Path(name)
        try:
            super()._dump_file(temporary, data)
            os.replace(temporary, filepath)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


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
