"""``/docs``: the API description for people, grouped by what a reader comes to do, each group a
collapsible section."""

from __future__ import annotations

import re

from authserver.http.paths import DOCS


def sections(html: str) -> dict[str, str]:
    """{section title: its HTML} of the page's collapsible sections."""
    found = re.findall(r'<details class="docs-section" id="tag-[a-z]+">\s*<summary><h2>([^<]+)</h2>(.*?)</details>',
                       html, re.S)
    return {title: body for title, body in found}


def test_docs_are_grouped_by_task_in_collapsible_sections(client):
    html = client.get(DOCS).text
    groups = sections(html)
    assert list(groups)[:3] == ["OAuth: signing a user in to an app", "Token endpoint", "Checking and revoking tokens"]
    assert {"Account API", "Operator API", "Pages for people", "Operations"} <= set(groups)
    assert "<code>/oauth/token</code>" in groups["Token endpoint"]
    assert "<code>/api/admin/users/{username}/sessions</code>" in groups["Operator API"]
    assert "<code>/api/sessions</code>" in groups["Account API"]
    # The table of contents links each section.
    assert '<a href="#tag-token">Token endpoint</a>' in html


def test_the_authorization_endpoint_is_filed_under_oauth_not_the_pages(client):
    groups = sections(client.get(DOCS).text)
    assert "<code>/oauth/authorize</code>" in groups["OAuth: signing a user in to an app"]
    assert "<code>/oauth/authorize</code>" not in groups["Pages for people"]
    assert "<code>/device</code>" in groups["Devices without a browser (RFC 8628)"]
    assert "<code>/signin</code>" in groups["Pages for people"]


def test_every_section_starts_closed_so_the_page_is_a_list_of_tasks(client):
    html = client.get(DOCS).text
    assert html.count('<details class="docs-section"') == len(sections(html)) >= 8
    assert "<details open" not in html
