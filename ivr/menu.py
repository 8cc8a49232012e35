"""Keypad menus generated from the catalogue.

The main menu has more categories (14) than a keypad has free keys, so menus are paged: the main
menu offers categories on keys 1-8 (9 is "progress of an existing request", 0 "an agent", 0-0
"emergency"), ``#`` turns to the next page and ``*`` repeats; a category with several sub-services
gets a sub-menu on keys 1-9 with ``*`` back to the main menu.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ivr.catalogue import Catalogue, MenuCategory, MenuService

MAIN_MENU_KEYS = "12345678"
SUB_MENU_KEYS = "123456789"
AGENT_KEY = "0"
PROGRESS_KEY = "9"
NEXT_PAGE_KEY = "#"
BACK_KEY = "*"


@dataclass(frozen=True)
class MenuItem:
    """One choice on a page: the key and what it selects."""

    key: str
    code: str  # category or sub-service code
    prompt: str  # prompt key naming the choice


@dataclass(frozen=True)
class MenuPage:
    """One page of a menu as it is played."""

    items: tuple[MenuItem, ...]
    number: int
    count: int

    @property
    def has_more(self) -> bool:
        """Whether ``#`` turns to another page."""
        return self.count > 1

    def item_for(self, key: str) -> MenuItem | None:
        """The item on ``key``, if any."""
        return next((item for item in self.items if item.key == key), None)


def category_prompt(code: str) -> str:
    """Prompt key of a category's spoken name."""
    return f"cat/{code}"


def service_prompt(code: str) -> str:
    """Prompt key of a sub-service's spoken name."""
    return f"svc/{code}"


def paginate(codes_and_prompts: Sequence[tuple[str, str]], keys: str) -> list[MenuPage]:
    """Split choices into pages of ``len(keys)`` items, keyed in order."""
    size = len(keys)
    chunks = [codes_and_prompts[i:i + size] for i in range(0, len(codes_and_prompts), size)] or [[]]
    return [
        MenuPage(items=tuple(MenuItem(keys[i], code, prompt) for i, (code, prompt) in enumerate(chunk)),
                 number=n, count=len(chunks))
        for n, chunk in enumerate(chunks)
    ]


def main_menu(catalogue: Catalogue) -> list[MenuPage]:
    """The main menu's pages of categories."""
    return paginate([(c.code, category_prompt(c.code)) for c in catalogue.categories], MAIN_MENU_KEYS)


def needs_sub_menu(category: MenuCategory) -> bool:
    """A category with one sub-service (or none) is chosen directly."""
    return len(category.services) > 1


def sub_menu(category: MenuCategory) -> list[MenuPage]:
    """A category's pages of sub-services."""
    return paginate([(s.code, service_prompt(s.code)) for s in category.services], SUB_MENU_KEYS)


def page_prompts(page: MenuPage, intro: str, tail: Sequence[str]) -> list[str]:
    """What a page says: the intro, "<name> press <key>" for each item, then the fixed options."""
    prompts = [intro]
    for item in page.items:
        prompts += [item.prompt, "press", f"num/{item.key}"]
    if page.has_more:
        prompts.append("menu_more")
    return prompts + list(tail)


def only_service(category: MenuCategory) -> MenuService | None:
    """The single sub-service of a category without a sub-menu."""
    return category.services[0] if len(category.services) == 1 else None
