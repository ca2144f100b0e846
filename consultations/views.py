"""Pages of the consultations app: thin, over selectors and services."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from . import selectors
from .models import Consultation


@login_required
def consultation_list(request):
    queryset = selectors.consultation_list(
        user=request.user, side=request.GET.get("side", ""), state=request.GET.get("state", ""), search=request.GET.get("q", "")
    )
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    return render(request, "consultations/list.html", {"page": page})


@login_required
def consultation_detail(request, pk: int):
    try:
        consultation = selectors.consultation_detail(user=request.user, pk=pk)
    except Consultation.DoesNotExist:
        raise Http404 from None
    return render(request, "consultations/detail.html", {"consultation": consultation})


@login_required
def obligation_list(request):
    page = Paginator(selectors.obligation_list(user=request.user), 25).get_page(request.GET.get("page"))
    return render(request, "consultations/obligation_list.html", {"page": page})
