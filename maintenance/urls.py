"""Portal URLs of maintenance."""

from django.urls import path

from maintenance import views

app_name = "maintenance"
urlpatterns = [
    path("work-orders/", views.WorkOrderListView.as_view(), name="work_order_list"),
    path("work-orders/new/", views.WorkOrderCreateView.as_view(), name="work_order_create"),
    path("work-orders/request/", views.ServiceRequestView.as_view(), name="service_request"),
    path("work-orders/<int:pk>/", views.WorkOrderDetailView.as_view(), name="work_order_detail"),
    path("work-orders/<int:pk>/transition/", views.WorkOrderTransitionView.as_view(), name="work_order_transition"),
    path("work-orders/<int:pk>/assign/", views.WorkOrderAssignView.as_view(), name="work_order_assign"),
    path("work-orders/<int:pk>/complete/", views.WorkOrderCompleteView.as_view(), name="work_order_complete"),
]
