"""Township beta's rows for the honours routes: a title, its shortlist of the beta village with one
candidate, and a recommendation list."""
from __future__ import annotations


def objects(found: dict) -> dict:
    from jifen.tenants.honours.models import HonourCandidate, HonourShortlist, HonourTitle, RecommendationList

    add = found["add"]
    title = add(HonourTitle(name_zh="最美家庭", quota=3))
    shortlist = add(HonourShortlist(title_id=title.id, village_id=found["village_id"], period=2026))
    candidate = add(HonourCandidate(shortlist_id=shortlist.id, title_id=title.id, village_id=found["village_id"],
                                    period=2026, household_id=found["household_id"], earned=10, stars=1,
                                    village_rank=1))
    rec = add(RecommendationList(name_zh="村班子后备人选"))
    return {"honour_title_id": title.id, "shortlist_id": shortlist.id, "honour_candidate_id": candidate.id,
            "recommendation_list_id": rec.id}
