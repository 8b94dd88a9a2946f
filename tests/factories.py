import factory
from django.contrib.auth import get_user_model

from console.models import App, KeyConfig, Membership, Role, UserProfile

DEFAULT_PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def profile(obj, create, extracted, **kwargs):
        if create:
            obj.save()
            UserProfile.objects.get_or_create(user=obj, defaults={"timezone": extracted or "UTC"})


class AppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = App
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"App {n}")
    android_package = factory.Sequence(lambda n: f"com.example.app{n}")
    ios_bundle_id = factory.Sequence(lambda n: f"com.example.app{n}")

    @factory.post_generation
    def keys(obj, create, extracted, **kwargs):
        if create:
            KeyConfig.objects.get_or_create(app=obj)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    app = factory.SubFactory(AppFactory)
    role = Role.MARKETER
