"""URLs of the demo app."""

from django.urls import path

from example_project.demo import views

app_name = "demo"
urlpatterns = [path("", views.index, name="index")]
