"""Helpers shared by the consultations tests and the route walks (tests/audit, tests/telemed)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from consultations import services
from consultations.choices import ReferralDirection


def signed(world, *, recommends=True, reason="病情危重，需上级医院手术治疗", patient=None):
    """A consultation whose signed opinion recommends transfer (JL-C10), or does not."""
    consultation = world.accepted_with_expert(**({"patient": patient} if patient is not None else {}))
    services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                   scheduled_for=timezone.now() + dt.timedelta(hours=1), video_link="https://meet.example.cn/r1")
    services.consultation_start_session(actor=world.expert, consultation=consultation)
    services.opinion_sign(actor=world.expert, consultation=consultation, content="考虑急性主动脉夹层，建议转上级医院。",
                          recommends_transfer=recommends, transfer_reason=reason if recommends else "")
    consultation.refresh_from_db()
    return consultation


def offer(world, consultation, *, direction=ReferralDirection.UP, actor=None, hours=24, **overrides):
    """The receiving facility's coordinator offers a referral (JL-C10)."""
    values = dict(department="心血管外科", kind="bed", scheduled_for=timezone.now() + dt.timedelta(hours=hours), note="绿色通道")
    values.update(overrides)
    if actor is None:
        actor = world.invited_coordinator if direction == ReferralDirection.UP else world.coordinator
    return services.referral_offer(actor=actor, consultation=consultation, direction=direction, **values)
