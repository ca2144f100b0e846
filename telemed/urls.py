from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from facilities import twofactor_views
from facilities.admins import PortalAdminSite
from facilities.signin_views import PasswordChangeView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("login/verify/", twofactor_views.otp_verify, name="otp-verify"),  # JL-A2: the second step
    path("login/enrol/", twofactor_views.otp_enrol, name="otp-enrol"),
    path("two-factor/", twofactor_views.two_factor, name="two-factor"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", PasswordChangeView.as_view(), name="password_change"),  # JL-A2
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html"),
        name="password_change_done",
    ),
    path("session/keepalive/", views.session_keepalive, name="session-keepalive"),
    path("session/resume/", views.session_resume, name="session-resume"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("facilities/", include("facilities.urls")),
    path("consultations/", include("consultations.urls")),
    path("records/", include("audit.urls")),
    path("public/", include("audit.public_urls")),  # JL-O6: complaints, inspections, credit; no login (namespace "public")
    path("billing/", include("billing.urls")),
    path("webhooks/", include("telemed.webhooks.urls")),
    path("partner-clients/", include("telemed.oauth.urls")),  # issue 14: OAuth2 partner applications
    path("notifications/", include("notifications.urls")),  # issue 12: 通知设置
    path("api/v1/", include("facilities.api.urls")),
    path("api/v1/", include("consultations.api.urls")),
    path("api/v1/", include("audit.api.urls")),
    path("api/v1/", include("telemed.fhir.urls")),  # issue 14: the FHIR R4 facade (read, search)
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("telemed.webhooks.api")),
    path("api/v1/", include("telemed.oauth.api")),  # issue 14: oauth/token/ and oauth/clients/
    path("api/v1/", include("notifications.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/docs/redoc.js", views.redoc_script, name="api-docs-script"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

# JL-A2: the admin site only for the three administrators (三员分立) and only for a session that
# passed the second step (8.1.4.1 d); each sees the models of its role (facilities.admins).
admin.site.__class__ = PortalAdminSite
admin.site.site_header = "吉林省远程医疗服务平台 · 系统管理"
admin.site.site_title = "远程医疗系统管理"

handler404 = "telemed.views.page_not_found"
handler500 = "telemed.views.server_error"
