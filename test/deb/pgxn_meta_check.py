#!/usr/bin/python3
"""test/deb/pgxn_meta_check.py META.json: check a PGXN distribution's
META.json against the PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/): the
required keys and their types, semantic versions, the license names the
spec lists, the provides map, prereqs phases/relations with version ranges,
release_status, and no unknown top-level key (custom keys start with X_).
Prints "ok" or the first problem, exit 1."""
import json
import re
import sys

SEMVER = re.compile(r'^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[a-zA-Z][a-zA-Z0-9-]*)?$')
RANGE = re.compile(r'^\s*(?:(?:==|!=|>=|<=|>|<)\s*)?(\S+)\s*$')
LICENSES = {'agpl_3', 'apache_1_1', 'apache_2_0', 'artistic_1', 'artistic_2', 'bsd', 'freebsd',
            'gfdl_1_2', 'gfdl_1_3', 'gpl_1', 'gpl_2', 'gpl_3', 'lgpl_2_1', 'lgpl_3_0', 'mit',
            'mozilla_1_0', 'mozilla_1_1', 'openssl', 'perl_5', 'postgresql', 'qpl_1_0', 'ssleay',
            'sun', 'zlib', 'open_source', 'restricted', 'unrestricted', 'unknown'}
KEYS = {'name', 'abstract', 'description', 'version', 'maintainer', 'license', 'provides',
        'prereqs', 'release_status', 'resources', 'generated_by', 'tags', 'no_index', 'meta-spec'}


def fail(message):
    print('META.json: ' + message)
    sys.exit(1)


def string(value, where):
    if not isinstance(value, str) or not value.strip():
        fail('%s must be a non-empty string' % where)


def version(value, where):
    string(value, where)
    if not SEMVER.match(value):
        fail('%s %r is not a semantic version' % (where, value))


def version_range(value, where):
    if value == 0 or value == '0':
        return
    string(value, where)
    for part in value.split(','):
        m = RANGE.match(part)
        if not m:
            fail('%s %r is not a version range' % (where, value))
        version(m.group(1), where)


meta = json.load(open(sys.argv[1]))
for key in ('name', 'abstract', 'version', 'maintainer', 'license', 'provides', 'meta-spec'):
    if key not in meta:
        fail('missing required key %s' % key)
for key in meta:
    if key not in KEYS and not key.lower().startswith('x_'):
        fail('unknown key %s' % key)
string(meta['name'], 'name')
if not re.match(r'^[^/\\\s]{2,}$', meta['name']):
    fail('name %r is not a valid distribution name' % meta['name'])
string(meta['abstract'], 'abstract')
version(meta['version'], 'version')
maintainers = meta['maintainer'] if isinstance(meta['maintainer'], list) else [meta['maintainer']]
for m in maintainers:
    string(m, 'maintainer')
licenses = meta['license']
names = [licenses] if isinstance(licenses, str) else list(licenses) if isinstance(licenses, (list, dict)) else None
if not names or any(isinstance(licenses, (str, list)) and n not in LICENSES for n in names):
    fail('license %r is not one the spec names' % (licenses,))
if meta['meta-spec'].get('version') != '1.0.0':
    fail('meta-spec.version must be 1.0.0')
if not isinstance(meta['provides'], dict) or not meta['provides']:
    fail('provides must name at least one extension')
for ext, p in meta['provides'].items():
    if not isinstance(p, dict) or 'version' not in p:
        fail('provides.%s needs a version' % ext)
    version(p['version'], 'provides.%s.version' % ext)
    for k in p:
        if k not in ('file', 'version', 'abstract', 'docfile') and not k.lower().startswith('x_'):
            fail('unknown key provides.%s.%s' % (ext, k))
for phase, relations in meta.get('prereqs', {}).items():
    if phase not in ('configure', 'build', 'test', 'runtime', 'develop'):
        fail('unknown prereqs phase %s' % phase)
    for relation, prereqs in relations.items():
        if relation not in ('requires', 'recommends', 'suggests', 'conflicts'):
            fail('unknown prereqs relation %s.%s' % (phase, relation))
        for name, r in prereqs.items():
            version_range(r, 'prereqs.%s.%s.%s' % (phase, relation, name))
if meta.get('release_status', 'stable') not in ('stable', 'testing', 'unstable'):
    fail('release_status must be stable, testing or unstable')
if 'tags' in meta and (not isinstance(meta['tags'], list) or
                       any(not isinstance(t, str) or not 0 < len(t) <= 255 for t in meta['tags'])):
    fail('tags must be a list of strings of 1 to 255 characters')
print('ok')
