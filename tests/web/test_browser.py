"""The Flutter web app in a real headless Chromium: timeline, like, post and search,
item page, explorer, versions."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_timeline_shows_recommendations_with_reasons(page):
    page.goto(page.base + "/")
    assert page.locator("#me").inner_text() == "Wren"  # the display name, not the id
    flits = page.locator("#timeline article.flit")
    assert flits.count() > 3
    assert page.locator("#timeline ul.why li").count() > 0
    assert "from Robin, whom you follow" in page.locator("#timeline").inner_text()
    shot(page, "timeline")


def test_like_is_reflected(page):
    page.goto(page.base + "/")
    first = page.locator("#timeline article.flit").first
    item = first.get_attribute("data-id")
    title = first.locator(".title a").inner_text()
    first.locator("button.like").click()
    page.locator(f'#timeline article.flit[data-id="{item}"] button.like[aria-pressed="true"]').wait_for()
    assert title in page.locator("#likes").inner_text()
    page.reload()
    # Live: the liked flit left the recommendations (seen filter) and is listed as liked.
    assert page.locator(f'#timeline article.flit[data-id="{item}"]').count() == 0
    assert title in page.locator("#likes").inner_text()
    shot(page, "liked")


def test_post_a_flit_and_find_it_by_search(page):
    page.goto(page.base + "/")
    page.fill("#post input[name=title]", "Kingfisher at the weir")
    page.fill("#post textarea[name=text]", "a flash of electric blue diving for minnows")
    page.fill("#post input[name=tags]", "kingfisher, river")
    page.click("#post button[type=submit]")
    page.locator("#posted").wait_for()
    for mode in ("lexical", "semantic", "hybrid"):
        page.fill(
            "form.search input[name=q]",
            "kingfisher diving" if mode != "semantic" else "a blue bird that fishes",
        )
        page.select_option("form.search select[name=mode]", mode)
        page.click("form.search button[type=submit]")
        page.wait_for_url("**/web/search**")
        assert "Kingfisher at the weir" in page.locator("#results").inner_text(), mode
    shot(page, "search")
    page.click("#results article.flit .title a >> text=Kingfisher at the weir")
    page.wait_for_url("**/web/items/**")
    assert page.locator("#similar article.flit").count() > 0  # more like this
    shot(page, "item")


def test_explorer_map(page):
    page.goto(page.base + "/web/explorer")
    page.locator("#map").wait_for()  # drawn in the background; the page reloads when ready
    circles = page.locator("#map circle")
    assert circles.count() >= 18
    assert "fish (6)" in page.locator("#legend").inner_text()
    first = circles.first
    assert page.locator("#map[tabindex='0'][role='img']").count() == 1  # one focusable map
    assert page.locator("#map a").count() == 0
    assert page.locator("#map-list li").count() == circles.count()  # and a list of it
    first.hover()
    assert page.locator("#info").inner_text() == first.locator("title").text_content()
    shot(page, "explorer")
    first.click()
    page.wait_for_url("**/web/items/**")
    # the menu follows the address, an alias included
    page.goto(page.base + "/web/explorer?version=collab")
    page.locator("#map").wait_for()
    chosen = page.locator("select[name=version]").input_value()
    assert "collab" in page.locator(f'select[name=version] option[value="{chosen}"]').inner_text()


def test_versions_page_points_and_rolls_back_an_alias(page):
    page.goto(page.base + "/web/versions")
    assert page.locator("#versions tr").count() == 3  # header + text + collab
    assert (
        "recall" in page.locator("#versions").inner_text().lower()
        or "none" in page.locator("#versions").inner_text()
    )
    page.fill("#alias-form input[name=name]", "production")
    page.click("#alias-form button[type=submit]")
    page.locator("#aliases >> text=production").wait_for()
    page.select_option("select[name=a]", index=0)
    page.select_option("select[name=b]", index=0)
    page.click("form.inline-form >> text=Diff")
    page.locator("#diff").wait_for()
    shot(page, "versions")
