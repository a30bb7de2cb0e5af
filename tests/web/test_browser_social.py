"""The social half in a real Chromium: follow a bird, its new flit reaches the timeline at
once (a reserved slot at the top), the follow survives a reload, unfollow takes it back;
reasons read as plain words."""

from __future__ import annotations

import pytest
from test_browser import shot

from conftest import signed_in

POST = "Finch at the feeder"


@pytest.fixture(scope="module")
def finch(browser, server):
    pg = signed_in(browser, server, "finch")
    yield pg
    pg.context.close()


def timeline_titles(page) -> list[str]:
    page.goto(page.base + "/")
    return page.locator("#timeline article.flit .title a").all_inner_texts()


def test_follow_then_the_new_flit_of_the_followed_bird_is_in_the_timeline(page, finch):
    page.goto(page.base + "/web/birds/finch")
    button = page.locator("#follow-bird")
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    page.locator('#follow-bird[aria-pressed="true"]').wait_for()
    page.reload()  # the follow is stored: the page says so after a reload
    assert page.locator("#follow-bird").get_attribute("aria-pressed") == "true"
    assert page.locator("#follow-bird").inner_text() == "Following"

    finch.goto(finch.base + "/")
    finch.fill("#post input[name=title]", POST)
    finch.fill("#post textarea[name=text]", "sunflower seeds at dawn")
    finch.click("#post button[type=submit]")
    finch.locator("#posted").wait_for()
    # finch's own flit is in finch's own timeline
    assert POST in timeline_titles(finch)[:2]

    titles = timeline_titles(page)
    assert POST in titles[:2]  # reserved: at the top whatever the ranker thinks
    card = page.locator("#timeline article.flit", has_text=POST)
    assert "from Finch, whom you follow" in card.locator("ul.why").inner_text()
    assert "Finch" in page.locator("#follows").inner_text()
    shot(page, "timeline-followed")


def test_unfollow_takes_the_followed_flits_back(page):
    page.goto(page.base + "/web/following")
    row = page.locator("#following li", has_text="Finch")
    row.locator("button.follow").click()
    page.locator('#following li:has-text("Finch") button.follow[aria-pressed="false"]').wait_for()
    page.reload()
    assert "Finch" not in page.locator("main").inner_text()
    titles = timeline_titles(page)
    assert "from Finch, whom you follow" not in page.locator("#timeline").inner_text()
    assert POST not in titles[:2]  # no reserved slot any more
    page.goto(page.base + "/web/birds/finch")
    assert page.locator("#follow-bird").get_attribute("aria-pressed") == "false"


def test_reasons_are_plain_and_at_most_two(page):
    page.goto(page.base + "/")
    cards = page.locator("#timeline article.flit")
    assert cards.count() > 3
    for j in range(cards.count()):
        reasons = cards.nth(j).locator("ul.why li").all_inner_texts()
        assert len(reasons) <= 2
        for r in reasons:
            assert ":" not in r.replace("tags you like:", ""), r  # no "channel:..." codes
            assert not any(ch.isdigit() for ch in r), r  # no scores
    text = page.locator("#timeline").inner_text()
    assert "ranked on" not in text and "score" not in text
    # "more like this" names the item of the page, and no like the reader never gave
    page.goto(page.base + "/web/items/fish-0")
    similar = page.locator("#similar").inner_text()
    assert "similar to “Caught a silver trout in the river”" in similar
    assert "which you liked" not in similar and "because you liked" not in similar
