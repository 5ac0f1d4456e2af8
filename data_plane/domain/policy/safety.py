"""Document safety (SPEC §5.3): prompt-injection patterns, a scored heuristic and hidden
text → PASS / FLAG / QUARANTINE under the tenant's thresholds.

Pure: the text to judge comes from the canonical document, the hidden fragments from the
adapters that read raw HTML, PDF and DOCX. Signals name the rule and the element, never
quote the text.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    FLAG = "FLAG"
    QUARANTINE = "QUARANTINE"


INJECTION = "INJECTION_SUSPECTED"
HIDDEN = "HIDDEN_TEXT"
# The kind of fragment a hidden-text finder adds when a size cap cut its scan short.
SCAN_TRUNCATED = "scan_truncated"


@dataclass(frozen=True, slots=True)
class InjectionPattern:
    name: str
    category: str
    regex: re.Pattern[str]
    weight: float


def _p(name: str, category: str, rx: str, weight: float) -> InjectionPattern:
    return InjectionPattern(name, category, re.compile(rx, re.IGNORECASE | re.DOTALL), weight)


_PRIOR = (r"(?:all |any |the |your |my |these |those )?(?:previous|prior|above|earlier|"
          r"preceding|foregoing|original|initial|system)")
_RULES = (r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|context|"
          r"commands?|guardrails)")

# Every pattern runs in time linear in the text (SPEC §5.3 and issue 12: a paragraph of
# 300,000 "=" once held a worker for hours). Normalised text has no whitespace runs, and no
# element may rescan a long run from each of its positions: repeats are possessive or
# anchored at the start of their run, and free-text spans (alt text, URLs) are capped.
_URL = 300  # characters of an alt text, a URL's path or its query that a pattern reads
_MD_IMAGE = rf"!\[[^\]]{{0,{_URL}}}+\]\("
_URL_QUERY = rf"\s*https?://[^)\s?]{{1,{_URL}}}+\?"

INJECTION_PATTERNS: tuple[InjectionPattern, ...] = (
    # instruction override
    # "disregard the above instructions regarding parking" is an office memo, not an attack:
    # an override narrowed to a topic weighs less than a bare one.
    _p("override.ignore_previous", "override",
       rf"\b(?:ignore|disregard|forget|skip|drop)\s+{_PRIOR}\s+{_RULES}\b(?!\s+(?:regarding|"
       r"about|for|on|concerning|relating|in (?:my|our|the|this) (?:e-?mail|letter|message|"
       r"memo)))", 0.95),
    _p("override.ignore_previous_topic", "override",
       rf"\b(?:ignore|disregard|forget)\s+{_PRIOR}\s+{_RULES}\s+(?:regarding|about|for|on|"
       r"concerning|relating)", 0.3),
    _p("override.ignore_everything", "override",
       r"\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:you (?:were|have been) told|"
       r"(?:said|written|stated) (?:above|before))", 0.9),
    _p("override.new_instructions", "override",
       r"\b(?:new|updated|real|actual|true)\s+instructions?\s*(?::|follow|are)", 0.6),
    _p("override.do_not_follow", "override",
       rf"\bdo not (?:follow|obey|comply with)\s+{_PRIOR}\s+{_RULES}", 0.9),
    _p("override.instead", "override",
       r"\binstead(?:,)?\s+(?:you (?:must|should|will)|respond|reply|output|say|print)\b", 0.35),
    _p("override.from_now_on", "override",
       r"\bfrom now on,?\s+(?:you|always|never|respond|answer|only)\b", 0.5),
    _p("override.override_safety", "override",
       r"\b(?:override|bypass|disable|turn off)\s+(?:your |all |the )?(?:safety|content|"
       r"security)?\s*(?:filters?|guardrails|restrictions|policies|safeguards)", 0.85),
    # role-play / persona
    _p("roleplay.you_are_now", "roleplay",
       r"\byou are (?:now|no longer)\s+(?:an?\s+)?(?:unrestricted|unfiltered|evil|jailbroken|"
       r"free|different|new|dan\b|developer mode)", 0.85),
    _p("roleplay.pretend", "roleplay",
       r"\b(?:pretend|act as if|imagine) (?:that )?you (?:are|have) (?:no|an? (?:unrestricted|"
       r"unfiltered|ai without))", 0.8),
    _p("roleplay.dan", "roleplay", r"\b(?:DAN mode|do anything now|developer mode enabled|"
       r"jailbreak(?:ed)? mode)\b", 0.9),
    _p("roleplay.act_as_ai", "roleplay",
       r"\b(?:as an? (?:ai|language model|llm|assistant|chatbot)"
       r"(?: (?:assistant|model|agent|system))?),?\s+you (?:must|should|will|are required to)",
       0.6),
    # system-prompt exfiltration
    _p("exfil.reveal_prompt", "exfiltration",
       r"\b(?:reveal|print|show|repeat|output|display|leak|dump|tell me)\s+(?:me\s+)?(?:your|the)"
       r"\s+(?:full |entire |complete |hidden |initial )?(?:system prompt|system message|"
       r"instructions|initial prompt|hidden prompt|prompt)", 0.85),
    _p("exfil.verbatim_above", "exfiltration",
       r"\b(?:repeat|print|output)\s+(?:everything|all(?: the)? text)\s+(?:above|before)", 0.8),
    _p("exfil.secrets", "exfiltration",
       r"\b(?:send|reveal|print|output|include)\s+(?:the |any |all )?(?:api keys?|passwords?|"
       r"credentials|secrets|access tokens?)\b.{0,40}\b(?:to|in|into)\b", 0.8),
    # tool / function-call injection
    _p("tool.call_json", "tool",
       r"[\"']?(?:tool_call|function_call|tool_calls|tool_use)[\"']?\s*[:=]", 0.8),
    _p("tool.invoke", "tool",
       r"\b(?:call|invoke|execute|run|use)\s+the\s+(?:\w+\s+)?(?:tool|function|plugin|"
       r"api|action)\s+(?:to|with|and)\b.{0,60}\b(?:send|delete|email|transfer|post|upload)",
       0.8),
    _p("tool.shell", "tool",
       r"(?:\bexecute|\brun)\s+(?:this|the following)\s+(?:shell\s+)?(?:command|code|script)"
       r"[^.]{0,30}(?:curl|wget|rm -rf|bash|powershell)", 0.85),
    _p("tool.xml_call", "tool", r"<\s*(?:function_calls|invoke|tool_call)\b", 0.85),
    # markdown / HTML exfiltration
    _p("exfil.markdown_image_query", "link_exfil",
       rf"{_MD_IMAGE}{_URL_QUERY}[^)\s]{{0,{_URL}}}?(?:=\s*\{{|=\s*\$|data=|q=|secret|token|"
       r"prompt|conversation|history)", 0.85),
    _p("exfil.html_img", "link_exfil",
       rf"<img\s[^<>]{{0,{_URL}}}?src\s*=\s*[\"']?https?://[^\"'<>\s?]{{1,{_URL}}}+\?"
       rf"[^\"'<>\s]{{0,{_URL}}}?(?:\{{|\$|data=|secret|token|prompt)", 0.85),
    _p("exfil.render_link", "link_exfil",
       r"\b(?:render|include|append|embed|add)\s+(?:this|the following|an?)\s+"
       r"(?:markdown\s+)?(?:image|link|url)\b.{0,80}(?:https?://)", 0.7),
    _p("exfil.summarise_to_url", "link_exfil",
       r"\b(?:send|post|forward|upload|exfiltrate)\s+(?:the\s+)?(?:conversation|chat history|"
       r"summary|user'?s? data|context|document)\s+to\s+(?:https?://|\S+@\S+)", 0.85),
    # delimiter and role-tag abuse
    _p("tags.chat_template", "tags",
       r"<\|(?:im_start|im_end|system|assistant|user|endoftext|begin_of_text|start_header_id)\|>",
       0.85),
    _p("tags.inst", "tags", r"\[/?INST\]|<<\s*/?SYS\s*>>", 0.8),
    _p("tags.role_line", "tags",
       r"(?:^|\n)\s*(?:#{1,3}\s*)?(?:system|assistant)\s*(?:prompt)?\s*:\s*\S", 0.35),
    _p("tags.role_dialogue", "tags",
       r"(?:^|\n|[-*#>]\s)\s*(?:#{1,3}\s*)?(?:system|user|human)\s*:.{0,300}?\b"
       r"assistant\s*:", 0.8),
    _p("override.rules_cancelled", "override",
       r"\b(?:previous|prior|above|earlier|original|system)\s+(?:rules|instructions|prompts?|"
       r"guidelines)\s+(?:are|were|have been|is)\s+(?:now\s+)?(?:cancelled|canceled|void|"
       r"revoked|lifted|disabled|no longer (?:valid|apply|in effect))", 0.45),
    _p("tags.fake_end", "tags",
       r"(?:end of (?:document|context|user input)|</(?:document|context|user_input|data)>)"
       r".{0,80}\b(?:instructions?|you (?:must|should|will)|now)\b", 0.8),
    # multilingual instruction override
    _p("i18n.de", "multilingual",
       r"\b(?:ignoriere|ignorieren sie|vergiss|vergessen sie)\s+(?:alle\s+)?(?:vorherigen|"
       r"bisherigen|obigen|vorangegangenen)\s+(?:anweisungen|instruktionen|befehle|regeln)", 0.95),
    _p("i18n.fr", "multilingual",
       r"\b(?:ignore[rz]?|oublie[rz]?)\s+(?:toutes\s+)?(?:les\s+)?(?:instructions|consignes|"
       r"directives)\s+(?:précédentes|precedentes|antérieures|anterieures|ci-dessus)", 0.95),
    _p("i18n.es", "multilingual",
       r"\b(?:ignora|ignore|olvida|olvide)\s+(?:todas\s+)?(?:las\s+)?(?:instrucciones|"
       r"indicaciones|órdenes)\s+(?:anteriores|previas)", 0.95),
    _p("i18n.it", "multilingual",
       r"\b(?:ignora|dimentica)\s+(?:tutte\s+)?(?:le\s+)?(?:istruzioni|indicazioni)\s+"
       r"(?:precedenti|sopra)", 0.95),
    _p("i18n.nl", "multilingual",
       r"\b(?:negeer|vergeet)\s+(?:alle\s+)?(?:vorige|eerdere|voorgaande)\s+(?:instructies|"
       r"opdrachten|aanwijzingen)", 0.95),
    _p("i18n.pt", "multilingual",
       r"\b(?:ignore|ignora|esqueça|esqueca)\s+(?:todas\s+)?(?:as\s+)?(?:instruções|instrucoes)"
       r"\s+(?:anteriores|acima)", 0.95),
    _p("i18n.pl", "multilingual",
       r"\b(?:zignoruj|ignoruj)\s+(?:wszystkie\s+)?(?:poprzednie|wcześniejsze)\s+"
       r"(?:instrukcje|polecenia)", 0.95),
    # broader forms (held-out phrasing): override verbs with an object a few words away
    _p("override.verb_object", "override",
       r"\b(?:ignore|disregard|forget|override|bypass|neglect|set aside|abandon)\b"
       r"(?:\s+[\w'-]+){0,2}?\s+(?:all|any|your|previous|prior|above|earlier|preceding|"
       r"original|initial|system|these|those)\b"
       r"(?:\s+[\w'-]+){0,2}?\s+(?:instructions|rules|guidelines|guidance|directives|"
       r"prompts?|policies|restrictions|constraints|programming|safeguards|guardrails)\b"
       r"(?!\s+(?:regarding|about|for|on|concerning|relating|in (?:my|our|the|this) "
       r"(?:e-?mail|letter|message|memo)))", 0.85),
    _p("override.ignore_above_and", "override",
       r"\b(?:ignore|disregard|forget)\s+(?:(?:all|everything)\s+)?(?:of\s+)?(?:the\s+)?"
       r"(?:above|previous|prior|preceding|before this(?: line)?|everything (?:above|before"
       r"(?: this)?|you (?:were|have been) told)|what (?:you were|was) (?:told|said))"
       r"[\s,;:.-]++(?:and\s+|then\s+|now\s+|instead\s+)?(?:say|print|respond|reply|output|"
       r"write|tell|answer|summari[sz]e|act|return|repeat|translate|list|give)\b", 0.95),
    _p("override.new_task", "override",
       r"\byour (?:new|real|actual|only) (?:task|goal|objective|instructions?|role|job|"
       r"purpose|mission)\b|\bnew (?:instructions?|rules?|task) (?:for|to) (?:the |any )?"
       r"(?:ai|assistant|model|llm|bot)\b", 0.7),
    _p("override.admin_mode", "override",
       r"\b(?:system|admin|developer|root|sudo) override\s*[:!]|(?-i:\b(?:SYSTEM|ADMIN) "
       r"OVERRIDE\b)|\b(?:developer|god|sudo|jailbreak|"
       r"dan) mode\b|\bBEGIN (?:SYSTEM|ADMIN|DEVELOPER) (?:MESSAGE|PROMPT|INSTRUCTIONS?|"
       r"OVERRIDE)\b", 0.8),
    _p("roleplay.jailbroken", "roleplay",
       r"\byou (?:have been|are|are now|were) (?:jailbroken|freed|unlocked|liberated)\b|"
       r"\b(?:respond|answer|reply|act|operate)\s+without\s+(?:any\s+)?(?:restrictions|filters|"
       r"limitations|censorship|guidelines|rules)\b|\bfree (?:from|of) (?:all |any )?"
       r"(?:openai|anthropic|google|your|its|the)? ?(?:policies|rules|restrictions|guidelines)"
       r"|\bact as (?:a |an )?DAN\b", 0.85),
    _p("exfil.prompt_any_verb", "exfiltration",
       r"\b(?:print|reveal|show|output|repeat|translate|return|display|dump|leak|tell me|"
       r"give me|include|summari[sz]e|disclose|share|what (?:are|were|is))\b.{0,40}?"
       r"\b(?:system ?prompt|initial prompt|original (?:instructions|prompt)|hidden "
       r"(?:instructions|prompt)|secret (?:instructions|prompt)|your (?:instructions|prompt|"
       r"rules|guidelines|directives)(?!\s+(?:for|on|about|regarding|to|with))|"
       r"(?:original|initial|first) \d+ words of your)\b", 0.85),
    _p("exfil.text_above", "exfiltration",
       r"\b(?:print|repeat|output|return|echo|copy)\s+(?:back\s+)?(?:the\s+)?(?:text|words|"
       r"content|prompt|message)s?\s+(?:(?:above|before|preceding)(?=\s*(?:[.,;:!]|$|"
       r"verbatim|word for word|including|starting|in full))|starting with)", 0.8),
    _p("exfil.markdown_image_any_query", "link_exfil",
       rf"{_MD_IMAGE}{_URL_QUERY}[^)\s=]{{0,{_URL}}}+=", 0.6),
    _p("exfil.link_placeholder", "link_exfil",
       rf"\]\(\s*https?://[^)\s]{{0,{_URL}}}?(?:\{{[^}}]{{0,{_URL}}}\}}|\$\{{?\w|%7B)", 0.85),
    _p("exfil.append_image", "link_exfil",
       r"\b(?:append|add|include|insert|output|render)\b.{0,60}" + _MD_IMAGE, 0.8),
    _p("tags.xml_role", "tags",
       r"<\s*/?\s*(?:system|assistant|system_prompt|instructions?|im_start)\s*>|"
       r"\[(?:system|assistant)\]\(#", 0.8),
    _p("address.named_model", "address",
       r"\b(?:hey|hi|dear|attention|note (?:to|for)|message (?:to|for)|instructions? for)"
       r",?\s+(?:the |all |any )?(?:chatgpt|gpt-?\d?|copilot|llms?|language models?|"
       r"ai (?:assistants?|models?|agents?|systems?)|chatbots?|(?:the )?ai(?=\s*[:,.]))\b", 0.7),
    _p("address.ai_processing", "address",
       r"\b(?:ai|llm|language model|gpt|chatbot)s?\s+(?:assistants?\s+|models?\s+)?"
       r"(?:reading|processing|summari[sz]ing|analy[sz]ing|reviewing|parsing|screening)\s+"
       r"(?:this|these|the following)\b", 0.75),
    _p("address.when_summarising", "address",
       r"\bwhen (?:you )?(?:are )?(?:summari[sz]ing|summari[sz]e|asked about|answering "
       r"questions about|processing)\s+this\b.{0,80}\b(?:say|state|tell|write|respond|claim|"
       r"mention|rank|rate|recommend|describe|conclude)\b", 0.45),
    _p("address.vocative", "address",
       r"(?:^|[\n.!?]\s*)(?:assistant|ai|chatgpt|claude|gemini|copilot|bot|model)\s*,\s*"
       r"(?:you (?:must|will|should|are|have)|now|ignore|disregard|forget|do not|don't)\b",
       0.7),
    _p("override.user_request", "override",
       r"\b(?:ignore|disregard|override)\s+(?:the\s+)?(?:user'?s?|human'?s?|customer'?s?)\s+"
       r"(?:request|question|query|prompt|instructions?|input)\b", 0.85),
    # multilingual, broader
    _p("i18n.de2", "multilingual",
       r"\b(?:vergiss|ignoriere|missachte|vergessen sie|ignorieren sie)\s+(?:einfach\s+)?"
       r"(?:alles|alle|sämtliche|deine|ihre|die)\b.{0,40}?\b(?:anweisungen|regeln|vorgaben|"
       r"befehle|gesagt|instruktionen)", 0.9),
    _p("i18n.fr2", "multilingual",
       r"\b(?:oublie|oubliez|ignore|ignorez)\s+(?:tout|toutes|tes|vos|les)\b.{0,40}?"
       r"\b(?:instructions|consignes|règles|dit|directives)", 0.9),
    _p("i18n.es2", "multilingual",
       r"\b(?:olvida|olvide|ignora|ignore)\s+(?:todo|todas|tus|sus|las)\b.{0,40}?"
       r"\b(?:instrucciones|reglas|anterior|indicaciones)", 0.9),
    _p("i18n.ru", "multilingual",
       r"(?:игнорируй|проигнорируй|забудь|не обращай внимания на)\s.{0,40}?(?:инструкци|"
       r"указани|правил|сказано)", 0.9),
    _p("i18n.zh", "multilingual",
       r"(?:忽略|无视|忘记|忽视).{0,12}(?:指令|指示|说明|规则|提示)", 0.9),
    _p("i18n.ja", "multilingual", r"(?:指示|命令|ルール).{0,6}(?:を)?無視", 0.9),
    _p("i18n.system_prompt", "multilingual",
       r"(?:systemprompt|prompt (?:du |del |do )?(?:système|systeme|sistema)|системн\w* "
       r"промпт|系统提示|システムプロンプト)", 0.7),
    # addressing the model directly
    _p("address.ai_reading", "address",
       r"\b(?:if you are an? (?:ai|llm|language model|assistant|chatbot)|"
       r"(?:to|attention|note to) (?:the |any )?(?:ai|llm|language model|ai assistant|"
       r"chatbot)(?=\s*[:,.;]|\s+(?:reading|processing|summari|model|assistant))"
       r"(?: reading| processing| summari[sz]ing)?)\b", 0.6),
    _p("address.dont_tell_user", "address",
       r"\b(?:do not|don't|never) (?:tell|inform|mention|reveal|let) (?:this |it )?(?:to )?"
       r"(?:the )?user\b", 0.7),
)

# Imperatives addressed to a model; each adds a little (the scored heuristic).
_IMPERATIVES = (
    re.compile(r"\byou (?:must|will|shall|should) (?:now |always |only |immediately )?"
               r"(?:respond|reply|answer|say|output|print|write|comply|obey)\b", re.I),
    re.compile(r"\b(?:respond|reply|answer) only with\b", re.I),
    re.compile(r"\b(?:system|developer) (?:prompt|message|mode)\b", re.I),
    re.compile(r"\bprompt injection\b|\bjailbreak\b", re.I),
    re.compile(r"\bthe (?:assistant|ai|model) (?:must|should|will)\b", re.I),
)
# Layout that chat transcripts share with forms and plain-text reports: a "User:" line, a
# "===== BEGIN" separator. They add to the heuristic but make nothing instruction-like.
# The separator is matched only from the start of its run: "(?:={5,}…)" alone rescans the
# rest of the run from every position (quadratic on a paragraph of "=").
_FORMAT_CUES = (
    re.compile(r"(?:^|\n)\s*+(?:user|human)\s*+:\s*+\S", re.I),
    re.compile(r"(?:(?<!=)={5,}+|(?<!-)-{5,}+|(?<!#)#{5,}+)\s*+(?:begin|end|start)\b", re.I),
)
_HEURISTIC = _IMPERATIVES + _FORMAT_CUES
_HEURISTIC_WEIGHT = 0.2

# Hidden text is instruction-like from this strength on (noisy-OR of its pattern signals and
# of its imperatives; formatting cues count for nothing): one named pattern of weight 0.45
# or more, two imperatives, or a weaker pattern with an imperative.
INSTRUCTIONS_AT = 0.4

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE = ZERO_WIDTH | BIDI_CONTROLS
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]")  # Unicode tag characters (ASCII smuggling)
# Anchored at the start of a run by the lookbehind, so each run is read once.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}+={0,2}+(?![A-Za-z0-9+/=])")
_INVISIBLE_RUN = re.compile("[" + "".join(sorted(_INVISIBLE)) + "]+")
_WHITESPACE = re.compile(r"\s+")
_TWO_WORDS = re.compile(r"\S\s+\S")

# Long texts are searched in windows: a match of up to _OVERLAP characters always lies
# whole in one window, and a pattern that is slower than linear (none should be) costs at
# most _WINDOW times the text's length, not its square.
_WINDOW = 4096
_OVERLAP = 1024
_EDGE = 64  # a match ending this close to a window's cut is judged by the next window


@dataclass(frozen=True, slots=True)
class SafetySignal:
    """One reason to distrust a document: the rule, its weight and where it fired."""

    reason: str  # INJECTION_SUSPECTED or HIDDEN_TEXT
    rule: str
    score: float
    element_index: int | None = None


@dataclass(frozen=True, slots=True)
class HiddenFragment:
    """Text a reader would not see (white, tiny, off-page, display:none, a comment…),
    found by an adapter in the raw file; ``kind`` names how it was hidden."""

    kind: str
    text: str


# What ordinary hidden text (no instructions in it) weighs, by kind. HTML hides menus,
# banners and comments all the time, so there it only adds to other signals; white, tiny or
# off-page text in a PDF or DOCX, or invisible characters, flag on their own. Whatever the
# weights, such text never quarantines a document (see ``assess``).
_HIDDEN_WEIGHT = {"html_comment": 0.0, "html_hidden_element": 0.3}
_RESIDUE_WEIGHT = 0.6

# How the summary names each kind of hidden text.
_HIDDEN_LABEL = {
    "pdf_off_page_text": "off-page text", "pdf_tiny_text": "tiny text",
    "pdf_white_text": "white text", "docx_vanish": "hidden (vanish) runs",
    "docx_white_text": "white text", "docx_tiny_text": "tiny text",
    "html_hidden_element": "hidden HTML elements", "html_comment": "HTML comments",
    "invisible_characters": "invisible characters",
    "unicode_tag_characters": "Unicode tag characters",
    "invisible_instructions": "invisible characters",
}


@dataclass(frozen=True)
class SafetyAssessment:
    """The verdict, its score and reason, every signal, and ``summary``: one readable line
    for the report (``None`` on PASS), e.g. ``HIDDEN_TEXT: off-page text, tiny text (no
    instructions)``."""

    verdict: Verdict
    score: float
    reason: str | None
    signals: tuple[SafetySignal, ...]
    summary: str | None = None


def _collapse(m: re.Match[str]) -> str:
    return "\n" if "\n" in m.group() else " "


def normalise(text: str) -> str:
    """NFKC, invisible characters removed, every whitespace run collapsed to one space (or
    one newline where it held one) — so that ``ig\u200bnore`` and full-width letters still
    match, and no pattern meets a long run of whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if ch not in _INVISIBLE)
    text = _TAG_CHARS.sub("", text)
    return _WHITESPACE.sub(_collapse, text)


def _search(rx: re.Pattern[str], text: str) -> bool:
    """``rx.search(text)`` window by window (see ``_WINDOW``). ``pos``/``endpos`` keep
    look-behinds and ``^`` true to the whole text; a match ending at a cut, where the text
    after it is out of sight, is left to the next window."""
    size = len(text)
    if size <= _WINDOW:
        return rx.search(text) is not None
    step = _WINDOW - _OVERLAP
    for start in range(0, size - _OVERLAP, step):
        end = min(size, start + _WINDOW)
        pos = start
        while (m := rx.search(text, pos, end)) is not None:
            if end == size or m.end() <= end - _EDGE:
                return True
            pos = m.start() + 1
    return False


def _decoded_payloads(text: str) -> list[str]:
    out = []
    for m in _BASE64.finditer(text):
        token = m.group(0)
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if sum(ch.isprintable() for ch in decoded) >= 0.9 * len(decoded):
            out.append(decoded)
    return out


def _scan(text: str, element_index: int | None, depth: int) -> tuple[list[SafetySignal], float]:
    """Signals of one text and its instruction strength (see ``INSTRUCTIONS_AT``)."""
    norm = normalise(text)
    signals = [SafetySignal(INJECTION, p.name, p.weight, element_index)
               for p in INJECTION_PATTERNS if _search(p.regex, norm)]
    strength = [s.score for s in signals]
    imperatives = sum(1 for rx in _IMPERATIVES if _search(rx, norm))
    hits = imperatives + sum(1 for rx in _FORMAT_CUES if _search(rx, norm))
    if hits:
        signals.append(SafetySignal(INJECTION, f"heuristic.imperatives_x{hits}",
                                    min(0.6, hits * _HEURISTIC_WEIGHT), element_index))
    if imperatives:
        strength.append(min(0.6, imperatives * _HEURISTIC_WEIGHT))
    if depth == 0:
        for decoded in _decoded_payloads(norm):
            inner, inner_strength = _scan(decoded, element_index, 1)
            # A payload someone encoded is suspect, but only instructions make it one.
            if inner_strength >= INSTRUCTIONS_AT:
                best = max(max(s.score for s in inner), 0.85)
                signals.append(SafetySignal(INJECTION, "encoded.base64", best, element_index))
                strength.append(best)
    return signals, combine(strength)


def injection_signals(text: str, element_index: int | None = None) -> list[SafetySignal]:
    """Pattern and heuristic signals of one text (plus base64 payloads decoded once)."""
    return _scan(text, element_index, 0)[0]


def instruction_strength(text: str) -> float:
    """How instruction-like ``text`` is, in [0, 1]: the noisy-OR of its pattern signals and
    of its imperatives addressed to a model. Formatting cues (a ``User:`` line, a ``=====
    BEGIN`` separator) count for nothing. Hidden text from ``INSTRUCTIONS_AT`` on is an
    attack; below, it is residue."""
    return _scan(text, None, 0)[1]


def _invisible_count(text: str) -> int:
    count = sum(1 for ch in text if ch in _INVISIBLE) + len(_TAG_CHARS.findall(text))
    return count - 1 if text.startswith("\ufeff") else count  # a byte-order mark is harmless


def invisible_char_signals(text: str, element_index: int | None = None) -> list[SafetySignal]:
    """Zero-width, bidi-control and tag characters: hidden text inside visible text."""
    if _invisible_count(text) < 2:
        return []
    return [SafetySignal(HIDDEN, "hidden.invisible_characters", _RESIDUE_WEIGHT,
                         element_index)]


def combine(scores: Iterable[float]) -> float:
    """Noisy-OR: independent weak signals add up, one strong signal dominates."""
    remaining = 1.0
    for s in scores:
        remaining *= 1.0 - min(max(s, 0.0), 1.0)
    return round(1.0 - remaining, 4)


class InjectionClassifier(Protocol):
    """The model slot: a prompt-injection classifier (text, or text from images by OCR)
    returning a probability in [0, 1] that joins the other signals."""

    name: str

    def score(self, text: str) -> float:
        ...


def model_signals(texts: Sequence[tuple[int | None, str]],
                  model: InjectionClassifier) -> list[SafetySignal]:
    """One signal per text the model scores above zero."""
    out = []
    for index, text in texts:
        if text.strip():
            p = float(model.score(text))
            if p > 0:
                out.append(SafetySignal(INJECTION, f"model.{model.name}", min(p, 1.0), index))
    return out


def _best_per_rule(signals: Iterable[SafetySignal]) -> list[SafetySignal]:
    # Count each rule once: a footer repeated on every page is one signal, not fifty.
    best: dict[str, SafetySignal] = {}
    for s in signals:
        if s.rule not in best or s.score > best[s.rule].score:
            best[s.rule] = s
    return sorted(best.values(), key=lambda s: (-s.score, s.rule))


def assess(texts: Sequence[tuple[int | None, str]], hidden: Sequence[HiddenFragment],
           *, flag_at: float, quarantine_at: float,
           extra: Sequence[SafetySignal] = ()) -> SafetyAssessment:
    """Judge a document from its visible texts (element index, text) and hidden fragments.

    What hidden text *says* decides (SPEC §5.3). Hidden text that is instruction-like
    (``instruction_strength`` from ``INSTRUCTIONS_AT``) is an attack and scores 1.0, as do
    instructions smuggled in invisible characters. Ordinary hidden text — OCR layers, crop
    marks, white form residue, off-page text, or hidden text with only weak cues — is
    residue: each kind is listed as a signal, but together they count as one signal (the
    heaviest) and can raise the verdict to FLAG at most, under any thresholds.

    The score is the noisy-OR of the attack signals (visible-text patterns and heuristic,
    the model's, hidden instructions) and that one residue signal; QUARANTINE needs the
    attack signals alone to reach ``quarantine_at``."""
    attack: list[SafetySignal] = list(extra)
    residue: list[SafetySignal] = []
    for index, text in texts:
        attack.extend(injection_signals(text, index))
        invisible = invisible_char_signals(text, index)
        residue.extend(invisible)
        if invisible and _smuggled(text):
            attack.append(SafetySignal(HIDDEN, "hidden.invisible_instructions", 1.0, index))
    weak: set[str] = set()
    for frag in hidden:
        if frag.kind == SCAN_TRUNCATED:  # recorded, weighs nothing
            residue.append(SafetySignal(HIDDEN, f"hidden.{SCAN_TRUNCATED}", 0.0))
            continue
        cues, strength = _scan(frag.text, None, 0)
        if strength >= INSTRUCTIONS_AT:
            attack.append(SafetySignal(HIDDEN, f"hidden.{frag.kind}.instructions", 1.0))
            continue
        weight = _HIDDEN_WEIGHT.get(frag.kind, _RESIDUE_WEIGHT)
        if weight and _TWO_WORDS.search(frag.text):
            residue.append(SafetySignal(HIDDEN, f"hidden.{frag.kind}", weight))
            if cues:
                weak.add(frag.kind)
    attack, residue = _best_per_rule(attack), _best_per_rule(residue)
    attack_score = combine(s.score for s in attack)
    score = combine([attack_score, residue[0].score if residue else 0.0])
    # No attack evidence, no quarantine — even where a tenant set quarantine_at to 0.
    verdict = (Verdict.QUARANTINE if attack_score >= quarantine_at and attack_score > 0
               else Verdict.FLAG if score >= flag_at else Verdict.PASS)
    reason = summary = None
    if verdict is not Verdict.PASS:
        # The attack signals explain the verdict when they reach it alone; otherwise the
        # residue raised it to FLAG.
        attack_led = attack_score > 0 and (verdict is Verdict.QUARANTINE
                                           or attack_score >= flag_at)
        hidden_attack = [s for s in attack if s.reason == HIDDEN]
        reason = HIDDEN if hidden_attack or not attack_led else INJECTION
        summary = _summary(reason, attack, hidden_attack, residue, weak,
                           attack_led=attack_led)
    signals = tuple(sorted((*attack, *residue), key=lambda s: (-s.score, s.rule)))
    return SafetyAssessment(verdict=verdict, score=score, reason=reason, signals=signals,
                            summary=summary)


def _label(rule: str) -> str:
    kind = rule.removeprefix("hidden.").removesuffix(".instructions")
    return _HIDDEN_LABEL.get(kind, kind.replace("_", " "))


def _summary(reason: str, attack: Sequence[SafetySignal], hidden_attack: Sequence[SafetySignal],
             residue: Sequence[SafetySignal], weak: set[str], *, attack_led: bool) -> str:
    """One line for the report: what was found, and whether it carried instructions."""
    parts = []
    if attack_led:
        if hidden_attack:
            places = dict.fromkeys(_label(s.rule) for s in hidden_attack)
            parts.append("instructions in " + ", ".join(places))
        rules = [s.rule for s in attack if s.reason == INJECTION][:3]
        if rules:
            parts.append(", ".join(rules))
    found = [s for s in residue if s.score > 0]
    if found:
        kinds = ", ".join(dict.fromkeys(_label(s.rule) for s in found))
        note = ("weak instruction cues, not instructions" if weak & {
            s.rule.removeprefix("hidden.") for s in found} else "no instructions")
        parts.append(f"{kinds} ({note})" if not attack_led else f"also {kinds} ({note})")
    if any(s.rule == f"hidden.{SCAN_TRUNCATED}" for s in residue):
        parts.append("hidden-text scan truncated")
    return f"{reason}: " + "; ".join(parts)


def _smuggled(text: str) -> bool:
    """Instructions in tag characters, or on lines laced with invisible characters — read
    with those characters dropped (``ig​nore``) or as word breaks (``ignore​all``)."""
    tags = "".join(chr(ord(c) - 0xE0000) for c in _TAG_CHARS.findall(text))
    if tags and instruction_strength(tags) >= INSTRUCTIONS_AT:
        return True
    laced = "\n".join(ln for ln in text.splitlines() if _invisible_count(ln) >= 2)
    if not laced:
        return False
    spaced = " ".join(_INVISIBLE_RUN.split(laced))
    return max(instruction_strength(laced), instruction_strength(spaced)) >= INSTRUCTIONS_AT
