"""Every URL of the project with every role (RELIABILITY.md S3): the answer must match the allow
table (accounts.permissions.ALLOW) and site membership. A URL missing from RULES fails the test,
so whoever adds a URL says here who may reach it.

A user who may reach a URL only GETs it, so the sweep changes nothing (a POST-only view answers
405 once its permission check passed). A user who may not also POSTs an empty body: views check
the study's site inside the view, after the method decorator, so only a POST shows that a
radiologist of another site is refused the claim, the decision or the signature."""

from dataclasses import dataclass

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from pydicom.data import get_testdata_file

from accounts.invitations import issue_link
from accounts.models import ApiToken, InvitationPurpose, Role
from accounts.permissions import ALLOW
from ai_overlays.models import AIEngine, AIModel, AIResult, Finding, Heatmap
from data_platform.models import Cohort, Export, Purpose, PurposeKind
from reading.models import ReaderFinding, Report
from tests.conftest import make_user
from worklist.ingest import ingest
from worklist.models import Instance, RemoteAE, SavedFilter, Study

pytestmark = pytest.mark.django_db

PUBLIC = "public"  # no sign-in needed: any answer but a server error
SIGNED_IN = "signed_in"  # any account with a session, whatever its role
STAFF = "django_admin_staff"  # Django's own admin: is_staff accounts only
TOKEN = "token"  # also answers a Bearer token (no cookies)


@dataclass(frozen=True)
class Rule:
    action: str  # a key of ALLOW, PUBLIC or STAFF
    of_suwon: bool = False  # names an object of Suwon: members of other sites are refused
    token: bool = False  # a Bearer token is accepted besides the session
    owner_only: bool = False  # a radiologist's own object (a saved worklist filter)
    query: str = ""  # the query string the view needs to answer at all
    # Statuses that answer an allowed user too, when the fixture's object has nothing to give.
    allowed_statuses: frozenset[int] = frozenset()


STUDY = Rule("view_studies", of_suwon=True)
WADO = Rule("view_studies", of_suwon=True, token=True)
MANAGE_USERS = Rule("manage_users")
MANAGE_AI = Rule("manage_ai")

RULES: dict[str, Rule] = {
    "worklist:home": Rule("view_studies"),
    "worklist:study": STUDY,
    "worklist:claim": Rule("claim_studies", of_suwon=True),
    "worklist:release": Rule("claim_studies", of_suwon=True),
    "worklist:reassign": Rule("reassign_studies", of_suwon=True),
    "worklist:save_preset": Rule("view_studies"),
    "worklist:delete_preset": Rule("view_studies", owner_only=True),
    "worklist:upload": Rule("upload_studies"),
    # The PACS's studies belong to settings.PACS_SITE (Suwon in the fixture).
    "worklist:pacs": Rule("pull_from_pacs", of_suwon=True),
    "worklist:pacs_pull": Rule("pull_from_pacs", of_suwon=True),
    "worklist:audit": Rule("view_audit"),
    "worklist:audit_export": Rule("view_audit"),
    "worklist:manage_sites": Rule("manage_sites"),
    "worklist:manage_add_site": Rule("manage_sites"),
    "worklist:manage_add_remote_ae": Rule("manage_sites"),
    "worklist:manage_toggle_remote_ae": Rule("manage_sites"),
    "accounts:login": Rule(PUBLIC),
    "accounts:logout": Rule(PUBLIC),
    # The second-factor steps hold a half-signed-in user in the session; without one they send to login.
    "accounts:two_factor": Rule(PUBLIC),
    "accounts:two_factor_enrol": Rule(PUBLIC),
    # The idle-timeout heartbeat answers 401 itself (POST only).
    "accounts:activity": Rule(PUBLIC),
    "accounts:manage:users": MANAGE_USERS,
    "accounts:manage:invite": MANAGE_USERS,
    "accounts:manage:edit_user": MANAGE_USERS,
    "accounts:manage:deactivate": MANAGE_USERS,
    "accounts:manage:reactivate": MANAGE_USERS,
    "accounts:manage:reset_password": MANAGE_USERS,
    "accounts:manage:settings": MANAGE_USERS,
    "accounts:manage:accept_invitation": Rule(PUBLIC),
    "reading:viewer": STUDY,
    "reading:decisions": Rule("view_ai_results", of_suwon=True),
    "reading:decide": Rule("decide_findings", of_suwon=True),
    "reading:undo": Rule("decide_findings", of_suwon=True),
    "reading:add_reader_finding": Rule("decide_findings", of_suwon=True),
    "reading:remove_reader_finding": Rule("decide_findings", of_suwon=True),
    "reading:report": STUDY,
    "reading:sign_report": Rule("sign_reports", of_suwon=True),
    "reading:add_addendum": Rule("sign_reports", of_suwon=True),
    "reading:print_report": STUDY,
    "reading:manifest": WADO,
    "reading:series_frames": WADO,
    "reading:thumbnail": WADO,
    "reading:frame": WADO,
    "ai_overlays:api-result-create": Rule("post_ai_results", token=True),
    "ai_overlays:api-result-detail": Rule("post_ai_results", token=True),
    "ai_overlays:api-model-list": Rule("post_ai_results", token=True),
    "ai_overlays:viewer_results": Rule("view_ai_results", of_suwon=True),
    "ai_overlays:viewer_heatmap": Rule("view_ai_results", of_suwon=True),
    "ai_overlays:manage_models": MANAGE_AI,
    "ai_overlays:manage_register_model": MANAGE_AI,
    "ai_overlays:manage_toggle_model": MANAGE_AI,
    "ai_overlays:manage_edit_engine": MANAGE_AI,
    "ai_overlays:manage_rotate_token": MANAGE_AI,
    "dicomweb:stow": Rule("upload_studies", token=True),
    "dicomweb:stow-study": Rule("upload_studies", token=True),
    "dicomweb:study-metadata": WADO,
    "dicomweb:series-metadata": WADO,
    "dicomweb:instance-metadata": WADO,
    "dicomweb:rendered": WADO,
    "dicomweb:frame-rendered": WADO,
    "dicomweb:frames": WADO,
    "dicomweb:bulk": WADO,
    "stats:dashboard": Rule("view_stats"),
    "stats:studies": Rule("view_stats", query="metric=verdict&value=accepted"),
    "stats:export": Rule("view_stats"),
    "stats:plotly_js": Rule(SIGNED_IN),
    "stats:plotly_css": Rule(SIGNED_IN),
    "data_platform:cohorts": Rule("build_cohorts"),
    "data_platform:cohort": Rule("export_cohorts"),
    "data_platform:export_create": Rule("export_cohorts"),
    "data_platform:exports": Rule("export_cohorts"),
    "data_platform:export_resume": Rule("export_cohorts"),
    # The fixture's export is still queued: no package yet, a 404 after the access check.
    "data_platform:export_download": Rule("export_cohorts", allowed_statuses=frozenset({404})),
    "data_platform:purpose_propose": Rule("export_cohorts"),
    "data_platform:purposes": Rule("approve_purposes"),
    "data_platform:mpi": Rule("build_cohorts"),
    "set_language": Rule(PUBLIC),
    "api-schema": Rule(PUBLIC),
}
# Static files served by runserver when DEBUG is on (not in production): open to all, like the files.
DEBUG_ONLY_UNNAMED = {"^static/(?P<path>.*)$"}
# Django's admin is one block: staff only, whatever the page; its own login page is open.
STAFF_NAMESPACE = "admin"
STAFF_OPEN = {"admin:login", "admin:logout"}
# Server errors of third-party admin pages asked about an object that does not exist; not an access
# question, and not ours to fix here.
KNOWN_THIRD_PARTY_ERRORS = {"admin:otp_totp_totpdevice_config", "admin:otp_totp_totpdevice_qrcode"}

# The WebSockets, by route name (config.websocket_routes): the same table, the same personas.
WEBSOCKET_RULES: dict[str, Rule] = {
    "worklist-live": Rule("view_studies"),
    "viewer-ai-live": Rule("view_ai_results", of_suwon=True),
    "stats-live": Rule("view_stats"),
}

PERSONAS = ("rad_suwon", "rad_icheon", "head", "admin", "steward", "engine", "anonymous")


def url_patterns(resolver=None, namespace: tuple[str, ...] = ()):
    """(qualified name, parameter names) of every URL pattern, includes expanded."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = (*namespace, pattern.namespace) if pattern.namespace else namespace
            yield from url_patterns(pattern, inner)
        elif isinstance(pattern, URLPattern):
            name = ":".join((*namespace, pattern.name)) if pattern.name else None
            yield name, namespace, pattern


@dataclass
class World:
    users: dict
    engine_secret: str
    kwargs: dict


@pytest.fixture
def world(sites, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PACS_SITE = "SUWON"
    suwon, icheon = sites["SUWON"], sites["ICHEON"]
    admin = make_user("admin", role=Role.ADMIN, all_sites=True)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    engine_user = make_user("engine", role=Role.AI_ENGINE, sites=[suwon])
    users = {
        "rad_suwon": make_user("kim.suwon", sites=[suwon]),
        "rad_icheon": make_user("lee.icheon", sites=[icheon]),
        "head": make_user("head", role=Role.DEPARTMENT_HEAD, all_sites=True),
        "admin": admin,
        "steward": make_user("steward", role=Role.DATA_STEWARD, sites=list(sites.values())),
        "engine": engine_user,
    }
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        ingest(handle.read(), site=suwon, source="test")
    study = Study.objects.get()
    instance = Instance.objects.select_related("series").get()
    model = AIModel.objects.create(vendor="Acme", product="LungNet", version="1", clinical_area="lung", modalities="CT")
    engine = AIEngine.objects.create(name="Acme", user=engine_user)
    engine.ai_models.set([model])
    engine.sites.set([suwon])
    result = AIResult.objects.create(study=study, ai_model=model, engine=engine, result_id="r1", body_sha256="0" * 64)
    finding = Finding.objects.create(result=result, finding_type="nodule", geometry_kind="none")
    heatmap = Heatmap.objects.create(
        result=result,
        series_instance_uid=instance.series.series_instance_uid,
        sop_instance_uid=instance.sop_instance_uid,
        rows=1,
        columns=1,
        png=b"\x89PNG\r\n\x1a\n",
    )
    reader_finding = ReaderFinding.objects.create(
        study=study, finding_type="nodule", geometry_kind="none", created_by=users["rad_suwon"]
    )
    Report.objects.create(study=study, clinical_area="lung")
    preset = SavedFilter.objects.create(user=users["rad_suwon"], name="mine", query="q=")
    _, secret = ApiToken.issue(user=engine_user, name="sweep")
    cohort = Cohort.objects.create(name="nodules", created_by=users["steward"])
    purpose = Purpose.objects.create(
        kind=PurposeKind.choices[0][0], title="CAD training", requested_by=users["steward"]
    )
    export = Export.objects.create(cohort=cohort, purpose=purpose, reason="training", requested_by=users["steward"])
    token = issue_link(user=users["rad_icheon"], created_by=admin, purpose=InvitationPurpose.PASSWORD_RESET)
    kwargs = {
        "study_uid": study.study_instance_uid,
        "series_uid": instance.series.series_instance_uid,
        "sop_uid": instance.sop_instance_uid,
        "number": 1,
        "frame_list": "1",
        "tag": "00431028",  # a private OB element of CT_small.dcm
        "finding_id": finding.pk,
        "reader_finding_id": reader_finding.pk,
        "heatmap_id": heatmap.pk,
        "pk": result.pk,
        "preset_id": preset.pk,
        "token": token,
        "user_id": users["rad_suwon"].pk,
        "model_id": model.pk,
        "engine_id": engine.pk,
        "cohort_id": cohort.pk,
        "export_id": export.pk,
        "remote_ae_id": RemoteAE.objects.create(ae_title="SUWON_CT", site=suwon).pk,
        # Django's admin
        "app_label": "accounts",
        "object_id": str(users["rad_suwon"].pk),
        "id": users["rad_suwon"].pk,
        "content_type_id": ContentType.objects.get_for_model(Study).pk,
        # stats
        "table": "acceptance",
        "file_format": "csv",
    }
    return World(users=users, engine_secret=secret, kwargs=kwargs)


def expected_allowed(rule: Rule, persona: str, user) -> bool:
    if rule.action == PUBLIC:
        return True
    if user is None:
        return False
    if rule.action == SIGNED_IN:
        return persona != "engine"
    if rule.action == STAFF:
        return user.is_staff
    if persona == "engine" and not rule.token:
        return False  # a service account has no session: the login redirect
    if user.role not in ALLOW[rule.action]:
        return False
    if rule.owner_only and persona != "rad_suwon":
        return False
    if rule.of_suwon:
        site_ids = user.site_ids()
        return site_ids is None or Study.objects.get().site_id in site_ids
    return True


def answer_kind(response) -> str:
    status = response.status_code
    if status >= 500:
        return "error"
    if status in (301, 302) and "/login/" in response.get("Location", ""):
        return "denied"
    if status == 302 and response.get("Location") == reverse("data_platform:cohorts"):
        return "denied"  # a data steward's landing instead of the worklist: no study data given
    if status in (401, 403, 404):
        return "denied"
    if status < 400 or status in (405, 406):
        return "allowed"  # 406: a WADO-RS Accept we did not set, answered after the access check
    return f"other {status}"


def _reverse(name: str, pattern, world: World) -> str:
    params = list(pattern.pattern.converters) if hasattr(pattern.pattern, "converters") else []
    params += list(pattern.pattern.regex.groupindex)
    return reverse(name, kwargs={param: world.kwargs[param] for param in dict.fromkeys(params)})


def _all_routes():
    return [(name, namespace, pattern) for name, namespace, pattern in url_patterns()]


def test_every_url_pattern_is_named_and_listed_in_the_rules():
    unlisted = [
        name or str(pattern.pattern)
        for name, namespace, pattern in _all_routes()
        if STAFF_NAMESPACE not in namespace and name not in RULES and str(pattern.pattern) not in DEBUG_ONLY_UNNAMED
    ]
    assert not unlisted, f"add these URLs to RULES with who may reach them: {unlisted}"


def test_every_rule_names_an_existing_url_and_action():
    names = {name for name, _, _ in _all_routes()}
    assert set(RULES) <= names, set(RULES) - names
    assert {rule.action for rule in RULES.values()} <= set(ALLOW) | {PUBLIC, SIGNED_IN, STAFF}


def rule_for(name: str, namespace: tuple[str, ...]) -> Rule:
    if name in STAFF_OPEN:
        return Rule(PUBLIC)
    if STAFF_NAMESPACE in namespace:
        return Rule(STAFF)
    return RULES[name]


def mismatch(rule: Rule, allowed: bool, get, post) -> str | None:
    """Why the answers do not fit the expectation, or None when they do."""
    got = answer_kind(get)
    if rule.action == PUBLIC or (rule.action == STAFF and allowed):
        # Open pages may send anywhere; Django's admin refuses some pages even to staff by design.
        return "server error" if got == "error" else None
    if allowed:
        ok = got == "allowed" or get.status_code in rule.allowed_statuses
        return None if ok else f"GET {get.status_code}, expected allowed"
    # 405 tells nothing about the object; a refused user must be refused by at least one method.
    answers = [answer_kind(get), answer_kind(post)]
    statuses = (get.status_code, post.status_code)
    if all(kind == "denied" or status == 405 for kind, status in zip(answers, statuses)) and "denied" in answers:
        return None
    return f"GET {get.status_code}, POST {post.status_code}, expected denied"


def test_every_role_gets_what_the_allow_table_says_on_every_url(client, world):
    client.raise_request_exception = False  # a server error is a mismatch to list, not a crash
    mismatches = []
    for persona in PERSONAS:
        user = world.users.get(persona)
        client.logout()
        headers = {}
        if persona == "engine":
            headers["HTTP_AUTHORIZATION"] = f"Bearer {world.engine_secret}"
        elif user is not None:
            client.force_login(user)
        for name, namespace, pattern in _all_routes():
            if name is None:
                continue  # Django admin's catch-all, covered by its named pages
            if name not in RULES and STAFF_NAMESPACE not in namespace:
                continue  # reported by test_every_url_pattern_is_named_and_listed_in_the_rules
            rule = rule_for(name, namespace)
            url = _reverse(name, pattern, world) + (f"?{rule.query}" if rule.query else "")
            allowed = expected_allowed(rule, persona, user)
            get = client.get(url, **headers)
            post = get if allowed else client.post(url, **headers)
            problem = mismatch(rule, allowed, get, post)
            if problem and name not in KNOWN_THIRD_PARTY_ERRORS:
                mismatches.append(f"{persona} {url} ({name}): {problem}")
    assert not mismatches, "\n".join(mismatches)


def test_every_websocket_route_is_listed_in_the_rules():
    from config.websocket_routes import websocket_urlpatterns

    assert {route.name for route in websocket_urlpatterns} == set(WEBSOCKET_RULES)


@pytest.mark.django_db(transaction=True)
async def test_every_role_opens_only_the_websockets_the_allow_table_gives_it(world):
    from channels.db import database_sync_to_async
    from channels.layers import get_channel_layer
    from channels.testing import WebsocketCommunicator
    from django.db import connections
    from django.test import Client

    from config.asgi import application
    from config.websocket_routes import websocket_urlpatterns

    @database_sync_to_async
    def cookie_of(user) -> bytes:
        if user is None:
            return b""
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    await get_channel_layer().flush()
    mismatches = []
    for persona in PERSONAS:
        # An engine's token is no cookie: to the sockets it is anonymous, as it should be.
        user = None if persona in ("anonymous", "engine") else world.users[persona]
        cookie = await cookie_of(user)
        for route in websocket_urlpatterns:
            params = {name: world.kwargs[name] for name in route.pattern.converters}
            path = "/" + str(route.pattern)
            for name, value in params.items():
                path = path.replace(f"<str:{name}>", str(value))
            headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
            socket = WebsocketCommunicator(application, path, headers=headers)
            connected, code = await socket.connect(timeout=5)
            await socket.disconnect()
            want = await database_sync_to_async(expected_allowed)(WEBSOCKET_RULES[route.name], persona, user)
            if connected != want:
                mismatches.append(f"{persona} {path}: connected={connected} ({code}), expected {want}")
    await database_sync_to_async(connections.close_all)()
    assert not mismatches, "\n".join(mismatches)
