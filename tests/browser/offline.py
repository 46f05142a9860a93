"""Debian's Chromium, headless, allowed to reach only the server under test: every request is recorded, one to
another host is refused and remembered (the page must not need it), and a page's script errors are kept."""

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Route

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it); never a downloaded browser
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


@dataclass
class OnlyThisServer:
    base: str
    requested: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def here(self) -> str:
        return urlsplit(self.base).netloc

    async def watch(self, context: BrowserContext) -> None:
        await context.route("**/*", self._only_here)
        context.on("request", lambda request: self.requested.append(request.url))

    def page(self, page: Page) -> Page:
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    async def _only_here(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == self.here or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            self.elsewhere.append(url)
            await route.abort()

    def assert_nothing_from_elsewhere(self) -> None:
        assert not self.errors, self.errors
        assert not self.elsewhere, f"the pages asked other hosts for {self.elsewhere}"
        assert self.requested and all(
            urlsplit(url).netloc == self.here for url in self.requested if url.startswith("http")), self.requested
