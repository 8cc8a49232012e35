"""Every text the IVR speaks, in one catalogue with keys (Mandarin default, English too).

Fixed prompts are below; catalogue names (``cat/<code>``, ``svc/<code>``) come from the service
catalogue, and numbers (``num/<n>``) let ticket numbers and queue positions be spoken.  The prompt
builder renders all of them to sound files named by key; the flow only ever names keys that
:func:`all_prompts` contains (a test pins that).
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.catalogue import Catalogue
from ivr.menu import category_prompt, service_prompt

LANGUAGES = ("zh", "en")
SILENCE = "silence"  # rendered as a short silence, not speech

FIXED: dict[str, dict[str, str]] = {
    "welcome": {
        "zh": "您好，欢迎致电96345社区服务热线。",
        "en": "Hello, welcome to the 96345 community service hotline.",
    },
    "welcome_vulnerable": {
        "zh": "您是我们登记的关爱对象，您的来电将优先处理。紧急求助请按两次0。",
        "en": "You are registered for priority care. For emergency help press 0 twice.",
    },
    "returning_open_ticket": {
        "zh": "您有一张正在处理的工单，查询进度请按9。",
        "en": "You have a request in progress. To hear its progress, press 9.",
    },
    "speech_invite": {
        "zh": "请在提示音后说出您需要的服务，例如：下水道堵了。",
        "en": "After the tone, please say what you need, for example: my drain is blocked.",
    },
    "speech_not_understood": {
        "zh": "对不起，没有听清您的需要，请按键选择。",
        "en": "Sorry, I did not understand. Please use the keypad.",
    },
    "confirm_prefix": {
        "zh": "您需要的是",
        "en": "You asked for",
    },
    "confirm_suffix": {
        "zh": "确认请按1，重新选择请按2。",
        "en": "To confirm press 1, to choose again press 2.",
    },
    "menu_intro": {
        "zh": "请选择服务类别。",
        "en": "Please choose a kind of service.",
    },
    "submenu_intro": {
        "zh": "请选择具体服务。",
        "en": "Please choose the service.",
    },
    "press": {
        "zh": "请按",
        "en": "press",
    },
    "menu_more": {
        "zh": "更多服务请按井号键。",
        "en": "For more services press hash.",
    },
    "menu_repeat": {
        "zh": "重听请按星号键。",
        "en": "To hear this again press star.",
    },
    "menu_back": {
        "zh": "返回主菜单请按星号键。",
        "en": "To go back to the main menu press star.",
    },
    "menu_progress": {
        "zh": "查询工单进度请按9。",
        "en": "For the progress of a request press 9.",
    },
    "menu_agent": {
        "zh": "人工服务请按0，紧急求助请按两次0。",
        "en": "For an operator press 0. For emergency help press 0 twice.",
    },
    "no_input": {
        "zh": "对不起，没有收到您的按键。",
        "en": "Sorry, I did not get your choice.",
    },
    "invalid_input": {
        "zh": "对不起，您的按键无效。",
        "en": "Sorry, that is not one of the choices.",
    },
    "retry_clearer": {
        "zh": "请在听完提示后，按电话上的数字键选择。",
        "en": "Please listen to the choices, then press a number key on your phone.",
    },
    "too_many_attempts": {
        "zh": "正在为您转接人工服务。",
        "en": "Let me put you through to an operator.",
    },
    "ticket_opened": {
        "zh": "您的服务请求已受理，工单号是",
        "en": "Your request is registered. Its number is",
    },
    "describe_offer": {
        "zh": "如需留言描述您的问题，请按1，并在提示音后说话，说完请按井号键。",
        "en": "To describe your problem, press 1 and speak after the tone, then press hash.",
    },
    "describe_thanks": {
        "zh": "您的留言已记录。",
        "en": "Thank you, your message is recorded.",
    },
    "transfer_agent": {
        "zh": "正在为您转接话务员，请稍候。",
        "en": "Connecting you to an operator, please hold.",
    },
    "emergency_connecting": {
        "zh": "已为您开启紧急求助，正在优先转接，请不要挂机。",
        "en": "Emergency help requested. Connecting you first, please stay on the line.",
    },
    "status_enter_number": {
        "zh": "请输入十位工单号，并以井号键结束；查询您最近的工单请直接按井号键。",
        "en": (
            "Enter the ten digit request number and press hash, or just press hash for your latest "
            "request."
        ),
    },
    "status_prefix": {
        "zh": "工单",
        "en": "Request",
    },
    "status_not_found": {
        "zh": "对不起，没有找到您的工单。",
        "en": "Sorry, no request was found.",
    },
    "status_accepted": {
        "zh": "已受理，正在为您安排服务人员。",
        "en": "is registered; a provider is being arranged.",
    },
    "status_dispatched": {
        "zh": "已派单给",
        "en": "has been sent to a provider for",
    },
    "status_provider": {
        "zh": "服务人员。",
        "en": ".",
    },
    "status_provider_accepted": {
        "zh": "服务人员已接单，即将上门。",
        "en": "has been accepted by a provider.",
    },
    "status_in_service": {
        "zh": "正在服务中。",
        "en": "is being served now.",
    },
    "status_completed": {
        "zh": "已完工，稍后我们将回访。",
        "en": "is completed; we will call you for feedback.",
    },
    "status_followed_up": {
        "zh": "已完工并已回访。",
        "en": "is completed and followed up.",
    },
    "status_closed": {
        "zh": "已办结。",
        "en": "is closed.",
    },
    "status_cancelled": {
        "zh": "已取消。",
        "en": "was cancelled.",
    },
    "status_escalated": {
        "zh": "已升级处理，正在加急。",
        "en": "has been escalated and is being hurried.",
    },
    "status_reopened": {
        "zh": "已重新处理。",
        "en": "has been reopened.",
    },
    "status_more": {
        "zh": "返回主菜单请按星号键，人工服务请按0。",
        "en": "For the main menu press star, for an operator press 0.",
    },
    "goodbye": {
        "zh": "感谢您的来电，再见。",
        "en": "Thank you for calling. Goodbye.",
    },
    "queue_position_prefix": {
        "zh": "您前面还有",
        "en": "There are",
    },
    "queue_position_suffix": {
        "zh": "位来电在等候。",
        "en": "callers ahead of you.",
    },
    "callback_offer": {
        "zh": "如不想继续等待，请按1，我们将按顺序给您回电。",
        "en": "If you prefer not to wait, press 1 and we will call you back in your turn.",
    },
    "callback_recorded": {
        "zh": "已为您登记回电，我们会尽快联系您，再见。",
        "en": "Your callback is booked. We will call you soon. Goodbye.",
    },
    "queue_wait_hint": {
        "zh": "等候期间如不想等待，请按1登记回电。",
        "en": "While you wait, press 1 to be called back instead.",
    },
    "menu_option": {
        "zh": "这项服务",
        "en": "this service",
    },
    SILENCE: {
        "zh": "",
        "en": "",
    },
    # --- follow-up survey (回访) and callbacks: ivr/survey.py, [hotline-followup], [hotline-callback]
    "survey_intro": {
        "zh": "您好，这里是96345社区服务热线，现在对您近期的服务请求进行回访。",
        "en": "Hello, this is the 96345 community service hotline, calling about your recent request.",
    },
    "survey_rating": {
        "zh": (
            "请为服务人员的服务打分：非常满意请按5，满意请按4，一般请按3，不满意请按2，非常不满意请按1。"
            "转人工服务请按0。"
        ),
        "en": (
            "Please rate the service: press 5 for very satisfied, 4 for satisfied, 3 for neutral, "
            "2 for dissatisfied, 1 for very dissatisfied. To speak to an operator press 0."
        ),
    },
    "survey_solved": {
        "zh": "您的问题是否已经解决？已解决请按1，未解决请按2，转人工服务请按0。",
        "en": "Is your problem solved? Press 1 for yes, 2 for no. To speak to an operator press 0.",
    },
    "survey_thanks": {
        "zh": "感谢您的评价，祝您生活愉快，再见。",
        "en": "Thank you for your feedback. Goodbye.",
    },
    "survey_reopen": {
        "zh": "很抱歉给您带来不便，我们已重新受理您的问题，将尽快安排处理。",
        "en": "We are sorry. Your request has been reopened and we will take care of it soon.",
    },
    "survey_already": {
        "zh": "您已完成本次回访，感谢您的配合，再见。",
        "en": "You have already answered this follow-up. Thank you, goodbye.",
    },
    "survey_unavailable": {
        "zh": "对不起，现在无法完成回访，我们稍后再与您联系，再见。",
        "en": "Sorry, we cannot take your feedback now. We will contact you again. Goodbye.",
    },
    "callback_calling": {
        "zh": "您好，这里是96345社区服务热线，现在给您回电，正在为您转接话务员，请稍候。",
        "en": (
            "Hello, this is the 96345 community service hotline calling you back. Connecting you to an "
            "operator, please hold."
        ),
    },
    # --- end of follow-up survey (回访)
}

_ZH_DIGITS = "零一二三四五六七八九"
_EN_NUMBERS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)


def _zh_small(n: int) -> str:
    if n < 10:
        return _ZH_DIGITS[n]
    if n < 20:
        return "十" + (_ZH_DIGITS[n - 10] if n > 10 else "")
    return "二十"


NUMBER_WORDS: dict[str, dict[str, str]] = {
    **{f"num/{n}": {"zh": _zh_small(n), "en": _EN_NUMBERS[n]} for n in range(21)},
    "num/hundred": {"zh": "百", "en": "hundred"},
    "num/thousand": {"zh": "千", "en": "thousand"},
    "num/tenthousand": {"zh": "万", "en": "ten thousand"},
    "num/star": {"zh": "星号", "en": "star"},
    "num/hash": {"zh": "井号", "en": "hash"},
}


# --- Asterisk's own sound names, for languages Asterisk ships no sounds in --------------------------
# app_queue announces a waiting caller's position with queue-thereare / queue-youarenext, then the
# number through say.c, then queue-callswaiting; say.c reads a Mandarin number from digits/0-9,
# digits/10..90 (tens), digits/hundred, digits/thousand, digits/wan, digits/yi.  The sandbox (and
# Debian) have these only in English, so a zh channel would hear English or nothing: they are
# rendered for these languages, under Asterisk's own names (not in the hotline/ folder).  So are the
# few stock sounds the dialplan plays to residents when the IVR cannot run (a message, an apology).
SYSTEM_SOUND_LANGUAGES = ("zh",)

SYSTEM_SOUNDS: dict[str, dict[str, str]] = {
    "queue-thereare": {"zh": "您现在排在第", "en": "You are currently caller number"},
    "queue-callswaiting": {"zh": "位，请耐心等候。", "en": "waiting to speak to a representative."},
    "queue-youarenext": {
        "zh": "您排在第一位，请稍候。",
        "en": "Your call is now first in line and will be answered by the next available representative.",
    },
    "queue-thankyou": {"zh": "感谢您的耐心等待。", "en": "Thank you for your patience."},
    **{f"digits/{n}": {"zh": _ZH_DIGITS[n], "en": _EN_NUMBERS[n]} for n in range(10)},
    **{f"digits/{n}0": {"zh": ("" if n == 1 else _ZH_DIGITS[n]) + "十",
                        "en": ("ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                               "ninety")[n - 1]} for n in range(1, 10)},
    "digits/hundred": {"zh": "百", "en": "hundred"},
    "digits/thousand": {"zh": "千", "en": "thousand"},
    "digits/wan": {"zh": "万", "en": "ten thousand"},
    "digits/yi": {"zh": "亿", "en": "hundred million"},
    # What a caller hears when the IVR could not run (dialplan `message`, `[hotline-followup]`).
    "vm-intro": {"zh": "请在提示音后留言，说完请挂机。",
                 "en": "Please leave your message after the tone. When done, hang up or press the pound key."},
    "vm-goodbye": {"zh": "谢谢，再见。", "en": "Goodbye."},
    "an-error-has-occurred": {"zh": "对不起，系统出现错误。", "en": "An error has occurred."},
}


def catalogue_prompt_fallback(key: str) -> tuple[str, ...]:
    """What to say instead when a catalogue name's sound file is missing (a sub-service added to the
    catalogue before ``hotline prompts build`` ran again): a generic "this service", so the menu
    still reads "... press 3" and the caller can choose it.  Fixed prompts have no fallback: a
    missing one is an installation error (the call goes to the dialplan's human fallback)."""
    if key.startswith(("svc/", "cat/")):
        return ("menu_option",)
    return ()


def catalogue_prompts(catalogue: Catalogue) -> dict[str, dict[str, str]]:
    """The spoken names of every category and sub-service."""
    texts: dict[str, dict[str, str]] = {}
    for category in catalogue.categories:
        texts[category_prompt(category.code)] = {lang: category.name(lang) for lang in LANGUAGES}
        for service in category.services:
            texts[service_prompt(service.code)] = {lang: service.name(lang) for lang in LANGUAGES}
    return texts


def all_prompts(catalogue: Catalogue) -> dict[str, dict[str, str]]:
    """Every prompt key with its text per language."""
    return {**FIXED, **NUMBER_WORDS, **catalogue_prompts(catalogue)}


def digit_keys(digits: str) -> list[str]:
    """Prompts that read a digit string one digit at a time (ticket numbers)."""
    names = {"*": "num/star", "#": "num/hash"}
    return [names.get(d, f"num/{d}") for d in digits if d.isdigit() or d in names]


def number_keys(number: int, language: str) -> list[str]:
    """Prompts that say a whole number (queue positions) the way the language reads it."""
    if number < 0:
        raise ValueError("only counts are spoken")
    if language != "zh":
        return [f"num/{number}"] if number <= 20 else digit_keys(str(number))
    return _zh_number(number)


def _zh_number(number: int) -> list[str]:
    if number <= 10:
        return [f"num/{number}"]
    if number < 20:
        return ["num/10", f"num/{number - 10}"]
    if number >= 100_000_000:
        return digit_keys(str(number))
    high, low = divmod(number, 10_000)
    keys: list[str] = []
    if high:
        keys += [*_zh_below_10000(high), "num/tenthousand"]
        if low and low < 1000:
            keys.append("num/0")
    return keys + (_zh_below_10000(low) if low else [])


def _zh_below_10000(number: int) -> list[str]:
    units = [(1000, "num/thousand"), (100, "num/hundred"), (10, "num/10")]
    keys: list[str] = []
    pending_zero = False
    for value, unit in units:
        digit, number = divmod(number, value)
        if digit:
            if pending_zero:
                keys.append("num/0")
            keys += [f"num/{digit}", unit] if unit != "num/10" or digit != 1 or keys else ["num/10"]
            pending_zero = False
        elif keys:
            pending_zero = True
    if number:
        if pending_zero:
            keys.append("num/0")
        keys.append(f"num/{number}")
    return keys


def text_of(texts: Mapping[str, Mapping[str, str]], key: str, language: str) -> str:
    """A prompt's text; a clear error when it does not exist."""
    try:
        return texts[key][language]
    except KeyError:
        raise KeyError(f"prompt {key!r} has no {language} text in the prompt catalogue") from None
