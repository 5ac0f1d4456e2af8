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
       r"!\[[^\]]*\]\(\s*https?://[^)\s]+\?[^)\s]*(?:=\s*\{|=\s*\$|data=|q=|secret|"
       r"token|prompt|conversation|history)", 0.85),
    _p("exfil.html_img", "link_exfil",
       r"<img\s[^>]*src\s*=\s*[\"']?https?://[^\"'>\s]+\?[^\"'>\s]*(?:\{|\$|data=|"
       r"secret|token|prompt)", 0.85),
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
       r"[\s,;:.-]+(?:and\s+|then\s+|now\s+|instead\s+)?(?:say|print|respond|reply|output|"
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
       r"!\[[^\]]*\]\(\s*https?://[^)\s]+\?[^)\s]*=", 0.6),
    _p("exfil.link_placeholder", "link_exfil",
       r"\]\(\s*https?://[^)\s]*(?:\{[^}]*\}|\$\{?\w+|%7B)", 0.85),
    _p("exfil.append_image", "link_exfil",
       r"\b(?:append|add|include|insert|output|render)\b.{0,60}!\[[^\]]*\]\(", 0.8),
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
_HEURISTIC = (
    re.compile(r"\byou (?:must|will|shall|should) (?:now |always |only |immediately )?"
               r"(?:respond|reply|answer|say|output|print|write|comply|obey)\b", re.I),
    re.compile(r"\b(?:respond|reply|answer) only with\b", re.I),
    re.compile(r"\b(?:system|developer) (?:prompt|message|mode)\b", re.I),
    re.compile(r"\bprompt injection\b|\bjailbreak\b", re.I),
    re.compile(r"\bthe (?:assistant|ai|model) (?:must|should|will)\b", re.I),
    re.compile(r"(?:^|\n)\s*(?:user|human)\s*:\s*\S", re.I),
    re.compile(r"(?:={5,}|-{5,}|#{5,})\s*(?:begin|end|start)\b", re.I),
)
_HEURISTIC_WEIGHT = 0.2

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE = ZERO_WIDTH | BIDI_CONTROLS
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]")  # Unicode tag characters (ASCII smuggling)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")


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


# Hidden text with no instruction in it: HTML hides menus, banners and comments all the
# time, so there it only adds to other signals; white, tiny or off-page text in a PDF or
# DOCX, or invisible characters, flag on their own.
_HIDDEN_WEIGHT = {"html_comment": 0.0, "html_hidden_element": 0.3}


@dataclass(frozen=True)
class SafetyAssessment:
    verdict: Verdict
    score: float
    reason: str | None
    signals: tuple[SafetySignal, ...]


def normalise(text: str) -> str:
    """NFKC, invisible characters removed, whitespace collapsed — so that ``ig\u200bnore``
    and full-width letters still match."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if ch not in _INVISIBLE)
    text = _TAG_CHARS.sub("", text)
    return re.sub(r"[ \t\r\f\v]+", " ", text)


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


def injection_signals(text: str, element_index: int | None = None,
                      *, _depth: int = 0) -> list[SafetySignal]:
    """Pattern and heuristic signals of one text (plus base64 payloads decoded once)."""
    norm = normalise(text)
    signals = [SafetySignal(INJECTION, p.name, p.weight, element_index)
               for p in INJECTION_PATTERNS if p.regex.search(norm)]
    hits = sum(1 for rx in _HEURISTIC if rx.search(norm))
    if hits:
        signals.append(SafetySignal(INJECTION, f"heuristic.imperatives_x{hits}",
                                    min(0.6, hits * _HEURISTIC_WEIGHT), element_index))
    if _depth == 0:
        for decoded in _decoded_payloads(norm):
            inner = injection_signals(decoded, element_index, _depth=1)
            if inner:
                best = max(s.score for s in inner)
                signals.append(SafetySignal(INJECTION, "encoded.base64", max(best, 0.85),
                                            element_index))
    return signals


def invisible_char_signals(text: str, element_index: int | None = None) -> list[SafetySignal]:
    """Zero-width, bidi-control and tag characters: hidden text inside visible text."""
    count = sum(1 for ch in text if ch in _INVISIBLE) + len(_TAG_CHARS.findall(text))
    if text.startswith("\ufeff"):
        count -= 1  # a byte-order mark is harmless
    if count < 2:
        return []
    return [SafetySignal(HIDDEN, "hidden.invisible_characters", 0.6, element_index)]


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


def assess(texts: Sequence[tuple[int | None, str]], hidden: Sequence[HiddenFragment],
           *, flag_at: float, quarantine_at: float,
           extra: Sequence[SafetySignal] = ()) -> SafetyAssessment:
    """Judge a document from its visible texts (element index, text) and hidden fragments.

    Hidden text alone flags; hidden text that carries any injection signal quarantines
    (scores 1.0), as does an unambiguous instruction override in visible text."""
    signals: list[SafetySignal] = list(extra)
    for index, text in texts:
        signals.extend(injection_signals(text, index))
        inv = invisible_char_signals(text, index)
        if inv:
            signals.extend(inv)
            if _smuggled(text):
                signals.append(SafetySignal(HIDDEN, "hidden.invisible_instructions", 1.0,
                                            index))
    for frag in hidden:
        inner = injection_signals(frag.text)
        weight = _HIDDEN_WEIGHT.get(frag.kind, 0.6)
        if weight and len(frag.text.split()) >= 2:
            signals.append(SafetySignal(HIDDEN, f"hidden.{frag.kind}", weight))
        if inner:
            signals.append(SafetySignal(HIDDEN, f"hidden.{frag.kind}.instructions", 1.0))
    # Count each rule once: a footer repeated on every page is one signal, not fifty.
    best: dict[str, SafetySignal] = {}
    for s in signals:
        if s.rule not in best or s.score > best[s.rule].score:
            best[s.rule] = s
    unique = tuple(sorted(best.values(), key=lambda s: (-s.score, s.rule)))
    score = combine(s.score for s in unique)
    verdict = (Verdict.QUARANTINE if score >= quarantine_at
               else Verdict.FLAG if score >= flag_at else Verdict.PASS)
    reason = None
    if verdict is not Verdict.PASS:
        reason = HIDDEN if any(s.reason == HIDDEN for s in unique) else INJECTION
    return SafetyAssessment(verdict=verdict, score=score, reason=reason, signals=unique)


def _smuggled(text: str) -> bool:
    """Instructions spelled out between invisible characters, or in tag characters."""
    tags = "".join(chr(ord(c) - 0xE0000) for c in _TAG_CHARS.findall(text))
    if tags and injection_signals(tags):
        return True
    pieces = re.split("[" + "".join(_INVISIBLE) + "]+", text)
    return len(pieces) > 2 and bool(injection_signals(" ".join(pieces)))
