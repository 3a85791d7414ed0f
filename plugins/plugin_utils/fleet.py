# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet directory on the controller, as one object (used by the fleet action plugins).

The directory is the record of who the relays trust:

- ``<laptop>.pem``: an enrolled laptop's certificate;
- ``<laptop>.next.pem``: a laptop's announced next certificate (trusted too, during a rotation);
- ``revoked/<laptop>.pem``: a revoked laptop, kept so that ``site`` does not enrol it again;
- ``crl.pem``: in private-CA mode, the fleet CA's certificate revocation list (never a laptop);
- ``issued/<laptop>.serials``: in private-CA mode, every certificate the CA signed for the laptop
  (serial and end of validity, one a line), written before the certificate leaves the controller.
  Every serial of it that is not the laptop's recorded current or announced certificate is revoked
  (a superseded one, or one signed in a run that died before the laptop reported it).

It is read once per run (`Fleet.read`) and then travels between tasks as plain data
(`Fleet.to_data` / `Fleet.from_data`), so that no task reads or globs it again. Changes are
planned in memory (`Fleet.plan`) and written by `apply`, one file at a time, atomically.

In private-CA mode (`Fleet.authority` set: the CA certificate and the run's CRL) the relays trust
the CA, so the certificates it issued are recorded (their serials are what a revocation lists)
but not handed to the relays one by one: `trusted` holds only the others, the fingerprint-mode
laptops of a fleet moving to the CA. Without a CA, `authority` is None and nothing changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import tempfile

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    fingerprint,
    load_certificate,
    not_after_utc,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import CRL_DAYS, CRL_RENEW_DAYS, Authority, revokes_any

PEM = '.pem'
NEXT = '.next'
REVOKED_DIR = 'revoked'
# The private-CA mode's CRL, kept apart from the laptop certificates.
CRL = 'crl.pem'
ISSUED_DIR = 'issued'
ISSUED_SUFFIX = '.serials'
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
AUTHORITY_FILES = (CRL,)
# Temporary files of an atomic write: no .pem suffix, so never read as a certificate.
TEMP_PREFIX = '.certrelay-'
FILE_MODE = 0o644
DIR_MODE = 0o755


def _pem_files(directory):
    """{stem: text} of the *.pem files directly in directory ({} when it does not exist)."""
    found = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        name = entry.name
        if name.startswith('.') or not name.endswith(PEM) or name in AUTHORITY_FILES:
            continue
        if not entry.is_file():
            continue
        with open(entry.path, encoding='utf-8', errors='replace') as handle:
            found[name[:-len(PEM)]] = handle.read().strip()
    return found


def _parses(text):
    try:
        load_certificate(text)
    except CertificateError:
        return False
    return True


def issued_path(directory, laptop):
    """The record of the certificates the fleet CA signed for laptop."""
    return os.path.join(directory, ISSUED_DIR, laptop + ISSUED_SUFFIX)


def read_issued(path):
    """{serial (int): notAfter (aware datetime)} of an issued record ({} when there is none).
    A damaged line is skipped: the record only ever adds serials to revoke."""
    found = {}
    for line in (_read_text(path) or '').splitlines():
        parts = line.split()
        try:
            end = datetime.datetime.strptime(parts[1], TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
            found[int(parts[0], 16)] = end
        except (IndexError, ValueError):
            continue
    return found


def record_issued(path, serial, not_after):
    """Add a signed certificate (its serial and end of validity) to an issued record, atomically."""
    text = _read_text(path) or ''
    if text and not text.endswith('\n'):
        text += '\n'
    write_atomic(path, text + '%X %s\n' % (serial, not_after.strftime(TIME_FORMAT)))


def unusable(path, error):
    """The worded reason a fleet file cannot be trusted (never quotes the file's content)."""
    return '%s is not a usable certificate: %s. Replace it, or remove it to stop trusting it.' % (
        path, error)


class Fleet(object):
    """Enrolled, announced and revoked certificates of one fleet directory.

    ``enrolled`` and ``announced`` map a laptop name to its certificate (stripped PEM text);
    ``revoked`` maps a name to the revoked certificate. ``fingerprints`` holds Exim's form for
    every enrolled and announced certificate (``<name>`` and ``<name>.next``), computed once.
    """

    def __init__(self, directory, enrolled=None, announced=None, revoked=None, fingerprints=None,
                 problems=None, authority=None, crl=None, issued=None, signed=None):
        self.directory = directory
        self.enrolled = dict(enrolled or {})
        self.announced = dict(announced or {})
        self.revoked = dict(revoked or {})
        self.fingerprints = dict(fingerprints or {})
        self.problems = list(problems or [])
        # {'certificate': CA PEM, 'crl': the CRL for the run} in private-CA mode, else None
        self.authority = authority
        # crl.pem as it is in the directory (None: there is none)
        self.crl = crl
        # entry names (``laptop``, ``laptop.next``, revoked laptops too) whose certificate the CA issued
        self.issued = set(issued or ())
        # {laptop: {serial hex: notAfter}}: what the CA signed for each laptop (issued/ and the
        # CA-issued certificates of the directory)
        self.signed = dict((name, dict(serials)) for name, serials in (signed or {}).items())
        self._ca = None
        # entry name -> end of validity, filled by read() (where every certificate is parsed anyway)
        self.not_after = {}

    # ----------------------------------------------------------------------------- reading

    @classmethod
    def read(cls, directory, authority=None):
        """Read the whole directory once; every unusable file becomes a worded problem.

        authority: the fleet CA (fleet_ca.Authority) in private-CA mode; the CRL is then read too.
        """
        fleet = cls(directory)
        if authority is not None:
            fleet._ca = authority
            fleet.authority = {'certificate': authority.pem, 'crl': None}
            crl = _read_text(os.path.join(directory, CRL))
            fleet.crl = crl.strip() if crl else None
        for stem, text in sorted(_pem_files(directory).items()):
            if stem.endswith(NEXT):
                fleet.announced[stem[:-len(NEXT)]] = text
            else:
                fleet.enrolled[stem] = text
        for name, text in fleet.entries():
            try:
                cert = load_certificate(text, 'it')
                fleet.fingerprints[name] = fingerprint(cert)
                fleet.not_after[name] = not_after_utc(cert)
                fleet._mark(name, cert)
            except CertificateError as exc:
                fleet.problems.append(unusable(fleet.path(name), exc))
                fleet._forget(name)
        # Not trusted, so not checked; only certificates travel on (a stray key must not).
        fleet.revoked = dict((name, text if _parses(text) else '')
                             for name, text in _pem_files(fleet.revoked_dir).items())
        for name, text in fleet.revoked.items():
            if text:
                fleet._mark(REVOKED_DIR + '/' + name, load_certificate(text, 'it'))
        if authority is not None:
            fleet.read_signed(name[:-len(ISSUED_SUFFIX)] for name in _names(os.path.join(directory, ISSUED_DIR))
                              if name.endswith(ISSUED_SUFFIX))
        return fleet

    def read_signed(self, laptops):
        """(Re)read the issued records of laptops (the CA signs during a run) and add the CA-issued
        certificates of the directory, which a fleet from before the records has none of."""
        for laptop in laptops:
            found = read_issued(issued_path(self.directory, laptop))
            if found:
                self.signed.setdefault(laptop, {}).update(('%X' % serial, end.strftime(TIME_FORMAT))
                                                          for serial, end in found.items())
        for name, pem in self._issued_certificates():
            cert = load_certificate(pem, 'it')
            self.signed.setdefault(name, {})['%X' % cert.serial_number] = not_after_utc(cert).strftime(TIME_FORMAT)

    def _issued_certificates(self):
        """(laptop, certificate) of every certificate of the directory the CA issued."""
        pairs = [(name, pem) for name, pem in self.enrolled.items() if name in self.issued]
        pairs += [(name, pem) for name, pem in self.announced.items() if name + NEXT in self.issued]
        pairs += [(name, pem) for name, pem in self.revoked.items() if pem and REVOKED_DIR + '/' + name in self.issued]
        return pairs

    def current_serials(self):
        """{laptop: [serial hex]} of the recorded current and announced certificates the CA issued:
        the only ones a laptop may keep (any other it holds is, or will be, revoked)."""
        found = {}
        pairs = [(name, pem) for name, pem in self.enrolled.items() if name in self.issued]
        pairs += [(name, pem) for name, pem in self.announced.items() if name + NEXT in self.issued]
        for name, pem in pairs:
            found.setdefault(name, []).append('%X' % load_certificate(pem, 'it').serial_number)
        return dict((name, sorted(serials)) for name, serials in found.items())

    def ca(self):
        """The CA (its certificate only, unless read() was given the whole Authority), or None."""
        if self._ca is None and self.authority:
            self._ca = Authority.public(self.authority['certificate'])
        return self._ca

    def serials_to_revoke(self, revoking=(), now=None):
        """The serials the CRL must list: every CA-issued certificate of revoked/, those of the laptops
        revoked in this run (current and announced), and every other serial the CA signed for a
        laptop that is not its recorded current or announced certificate (superseded, or never
        recorded). Expired ones are left out: no relay accepts them anyway."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        texts = [text for name, text in self.revoked.items() if REVOKED_DIR + '/' + name in self.issued]
        for name in revoking:
            texts += [pem for entry, pem in ((name, self.enrolled.get(name)), (name + NEXT, self.announced.get(name)))
                      if pem and entry in self.issued]
        serials = set(load_certificate(text, 'it').serial_number for text in texts)
        current = self.current_serials()
        limit = now.strftime(TIME_FORMAT)
        for name, issued in self.signed.items():
            keep = () if name in revoking else current.get(name, ())
            # the fixed-width UTC form sorts as the time does
            serials.update(int(serial, 16) for serial, end in issued.items() if serial not in keep and end > limit)
        return sorted(serials)

    def _mark(self, name, cert):
        """Remember whether the fleet CA issued cert (the entry name's certificate)."""
        ca = self.ca()
        if ca is not None and ca.issued(cert):
            self.issued.add(name)
        else:
            self.issued.discard(name)

    def _forget(self, name):
        """Drop an unusable entry: what the run carries around must never include a stray key."""
        if name.endswith(NEXT):
            del self.announced[name[:-len(NEXT)]]
        else:
            del self.enrolled[name]

    @property
    def revoked_dir(self):
        return os.path.join(self.directory, REVOKED_DIR)

    def path(self, name, revoked=False):
        """The file of entry name (``laptop`` or ``laptop.next``)."""
        return os.path.join(self.revoked_dir if revoked else self.directory, name + PEM)

    def entries(self):
        """(entry name, certificate) of everything the relays trust, sorted by name."""
        pairs = list(self.enrolled.items()) + [(name + NEXT, pem) for name, pem in self.announced.items()]
        return sorted(pairs)

    def trusted(self):
        """The server role's exim_server_client_certs: one entry per certificate the relays trust one
        by one (in private-CA mode, not those the CA issued: the relays trust the CA)."""
        return [{'name': name, 'certificate': pem} for name, pem in self.entries() if name not in self.issued]

    def known(self, inventory_laptops=()):
        """Every laptop name a revocation may refer to: inventory, enrolled, announced, revoked."""
        return sorted(set(inventory_laptops) | set(self.enrolled) | set(self.announced) | set(self.revoked))

    # -------------------------------------------------------------------------- as data

    def relay_crl(self):
        """The CRL the relays get: the fleet's, except while laptops are still listed one by one and it
        revokes nothing. An OpenSSL-built Exim with a CRL refuses every self-signed client certificate
        (no CRL for its issuer), so an empty CRL would cut off the laptops not moved to the CA yet."""
        crl = (self.authority or {}).get('crl')
        if not crl or (self.trusted() and not revokes_any(crl)):
            return ''
        return crl

    def to_data(self):
        return {
            'directory': self.directory,
            'enrolled': self.enrolled,
            'announced': self.announced,
            'revoked': self.revoked,
            'fingerprints': self.fingerprints,
            'problems': self.problems,
            'authority': self.authority,
            'crl': self.crl,
            'issued': sorted(self.issued),
            'signed': self.signed,
            'current_serials': self.current_serials() if self.authority else {},
            'trusted': self.trusted(),
            'relay_crl': self.relay_crl(),
        }

    @classmethod
    def from_data(cls, data):
        return cls(data['directory'], data.get('enrolled'), data.get('announced'), data.get('revoked'),
                   data.get('fingerprints'), data.get('problems'), data.get('authority'), data.get('crl'),
                   data.get('issued'), data.get('signed'))

    # -------------------------------------------------------------------------- changes

    def plan(self, record=None, announce=None, revoke=(), reenrol=False, ca=None, laptops=(), now=None):
        """The fleet after the changes, and the file operations that make it so.

        record: {laptop: certificate} read from laptops in this run; it replaces an older one, and
          ends an announcement of the same certificate (the laptop switched to it). A revoked
          laptop is recorded only with reenrol, which also takes it off the revoked list.
        announce: {laptop: next certificate}; ignored when it is the recorded one.
        revoke: laptops whose certificates move to revoked/ (announcement dropped).
        ca: the fleet CA with its key (private-CA mode): the run's CRL is planned again once the
          certificates are recorded, so that the ones they replace, and any signed but never
          recorded, are revoked (the issued records of laptops, the laptops of the run, are read
          again first: the CA signed during the run).
        Returns (Fleet, [Operation]); raises CertificateError naming a laptop whose certificate
        does not parse.
        """
        new = Fleet(self.directory, self.enrolled, self.announced, self.revoked, self.fingerprints,
                    authority=dict(self.authority) if self.authority else None, crl=self.crl, issued=self.issued,
                    signed=self.signed)
        new._ca = self._ca
        ops = []
        revoking = set(revoke)
        for name in sorted(revoking):
            new._revoke(name, ops)
        for name, pem in sorted((record or {}).items()):
            if name in revoking or (name in new.revoked and not reenrol):
                continue
            new._record(name, pem.strip(), ops)
        for name, pem in sorted((announce or {}).items()):
            if name in revoking or name not in new.enrolled:
                continue
            new._announce(name, pem.strip(), ops)
        if ca is not None and new.authority:
            new._ca = ca
            new.read_signed(set(laptops) | set(record or {}))
            crl, reason = ca.plan_crl(new.authority.get('crl') or new.crl, new.serials_to_revoke(revoking, now),
                                      new.authority.get('crl_days') or CRL_DAYS,
                                      new.authority.get('crl_renew_days', CRL_RENEW_DAYS), now)
            if reason:
                new.authority.update(crl=crl, crl_reason=reason)
        crl = (new.authority or {}).get('crl')
        if crl and crl != new.crl:
            ops.append(Operation(os.path.join(new.directory, CRL), new.crl, crl))
            new.crl = crl
        return new, ops

    def _fingerprint(self, name, pem):
        try:
            cert = load_certificate(pem, 'the certificate of %s' % name)
        except CertificateError as exc:
            raise CertificateError('%s: %s' % (name, exc)) from None
        self.fingerprints[name] = fingerprint(cert)
        self._mark(name, cert)

    def _revoke(self, name, ops):
        if name in self.enrolled:
            pem = self.enrolled.pop(name)
            ops.append(Operation(self.path(name, revoked=True), self.revoked.get(name), pem))
            ops.append(Operation(self.path(name), pem, None))
            self.revoked[name] = pem
            self.fingerprints.pop(name, None)
            if name in self.issued:
                self.issued.discard(name)
                self.issued.add(REVOKED_DIR + '/' + name)
        if name in self.announced:
            ops.append(Operation(self.path(name + NEXT), self.announced.pop(name), None))
            self.fingerprints.pop(name + NEXT, None)
            self.issued.discard(name + NEXT)

    def _record(self, name, pem, ops):
        if self.enrolled.get(name) != pem:
            self._fingerprint(name, pem)
            ops.append(Operation(self.path(name), self.enrolled.get(name), pem))
            self.enrolled[name] = pem
        if self.announced.get(name) == pem:
            ops.append(Operation(self.path(name + NEXT), self.announced.pop(name), None))
            self.fingerprints.pop(name + NEXT, None)
            self.issued.discard(name + NEXT)
        if name in self.revoked:
            ops.append(Operation(self.path(name, revoked=True), self.revoked.pop(name), None))
            self.issued.discard(REVOKED_DIR + '/' + name)

    def _announce(self, name, pem, ops):
        if pem == self.enrolled[name] or self.announced.get(name) == pem:
            return
        self._fingerprint(name + NEXT, pem)
        ops.append(Operation(self.path(name + NEXT), self.announced.get(name), pem))
        self.announced[name] = pem


class Operation(object):
    """One file of the fleet directory: written with ``after`` (text), or removed (after None)."""

    def __init__(self, path, before, after):
        self.path, self.before, self.after = path, before, after

    def diff(self):
        return {
            'before_header': self.path if self.before is not None else '%s (absent)' % self.path,
            'after_header': self.path if self.after is not None else '%s (absent)' % self.path,
            'before': _file_text(self.before),
            'after': _file_text(self.after),
        }

    def done(self):
        """Whether the file is already as the operation would leave it (an earlier play of the run
        wrote it): such an operation changes nothing."""
        current = _read_text(self.path)
        if self.after is None:
            return current is None
        return current == _file_text(self.after)

    def __repr__(self):
        return 'Operation(%r, %s)' % (self.path, 'remove' if self.after is None else 'write')


def _names(directory):
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _read_text(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def pending(ops):
    """The operations that would change a file."""
    return [op for op in ops if not op.done()]


def _file_text(pem):
    return '' if pem is None else pem + '\n'


def write_atomic(path, text):
    """Write text to path through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def apply(ops):
    """Carry out the operations in order (a revoked copy is written before the original goes)."""
    for op in ops:
        if op.after is None:
            try:
                os.unlink(op.path)
            except FileNotFoundError:
                pass
        else:
            write_atomic(op.path, _file_text(op.after))
