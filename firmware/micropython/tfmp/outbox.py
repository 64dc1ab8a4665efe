"""A flash outbox: every alert is written to its own file before it is sent and removed only
when the broker acknowledges it (QoS 1 PUBACK), so a reboot, a crash or a Wi-Fi or broker
outage loses nothing (a message acknowledged just before a reset may be sent twice; its
``alert_id`` lets the receiver drop the copy).

Files: ``<folder>/<seq>.msg`` holding ``topic\\n payload``; a write goes to ``.tmp`` first and
is renamed into place, and the next sequence number is kept in ``<folder>/seq`` the same way.
"""

import os

SUFFIX = ".msg"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _write_atomic(path, data):
    temporary = path + ".tmp"
    with open(temporary, "wb") as stream:
        stream.write(data)
    if _exists(path):
        os.remove(path)  # FAT cannot rename over a file
    os.rename(temporary, path)


class Outbox:
    def __init__(self, folder):
        self.folder = folder
        if not _exists(folder):
            os.mkdir(folder)
        self.next_seq = self._stored_seq()

    def _stored_seq(self):
        highest = max([int(name[:-len(SUFFIX)]) for name in self._names()] or [0])
        try:
            with open(self.folder + "/seq") as stream:
                stored = int(stream.read().strip() or 0)
        except (OSError, ValueError):
            stored = 0
        return max(stored, highest + 1, 1)

    def _names(self):
        return sorted(n for n in os.listdir(self.folder) if n.endswith(SUFFIX))

    def put(self, topic, payload):
        """Store one message durably; returns its sequence number."""
        seq = self.next_seq
        self.next_seq += 1
        _write_atomic(self.folder + "/seq", str(self.next_seq).encode())
        data = topic.encode() + b"\n" + (payload.encode() if isinstance(payload, str)
                                         else bytes(payload))
        _write_atomic("%s/%010d%s" % (self.folder, seq, SUFFIX), data)
        return seq

    def pending(self):
        """``[(seq, topic, payload), ...]`` oldest first."""
        found = []
        for name in self._names():
            try:
                with open(self.folder + "/" + name, "rb") as stream:
                    data = stream.read()
            except OSError:
                continue
            split = data.find(b"\n")
            if split < 0:
                continue  # not one of ours
            found.append((int(name[:-len(SUFFIX)]), data[:split].decode(), data[split + 1:]))
        return found

    def remove(self, seq):
        try:
            os.remove("%s/%010d%s" % (self.folder, seq, SUFFIX))
        except OSError:
            pass

    def __len__(self):
        return len(self._names())
