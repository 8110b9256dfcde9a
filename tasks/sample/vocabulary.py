"""Word lists the sample data draws from: names, places, company words, mail domains, tags.

Each list is indexed by integer arrays, so building a million contacts never loops in Python.
Names carry an ASCII form for email local parts.
"""

from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Margaret", "Paul", "Sandra",
    "Steven", "Ashley", "Andrew", "Emily", "Joshua", "Donna", "Kevin", "Michelle", "Brian", "Carol",
    "George", "Amanda", "Edward", "Melissa", "Ronald", "Deborah", "Timothy", "Stephanie", "Jason", "Rebecca",
    "Liam", "Olivia", "Noah", "Emma", "Lucas", "Sophia", "Mateo", "Isabella", "Leon", "Mia",
    "Hugo", "Chloé", "Louis", "Léa", "Jonas", "Hannah", "Finn", "Lena", "Elias", "Clara",
    "José", "María", "Javier", "Lucía", "Diego", "Carmen", "Pablo", "Sofía", "Marco", "Giulia",
    "Luca", "Francesca", "Søren", "Ingrid", "Lars", "Freya", "Łukasz", "Zofia", "Piotr", "Agnieszka",
    "Arjun", "Priya", "Rohan", "Ananya", "Wei", "Mei", "Hiroshi", "Yuki", "Min-jun", "Ji-woo",
    "Omar", "Fatima", "Youssef", "Amira", "Kwame", "Ama", "Chidi", "Ngozi", "Mateus", "Beatriz",
    "Zoë", "Renée", "Noémie", "Björn", "Ole", "Astrid", "Tomás", "Inés", "Nikolai", "Anastasia",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi",
    "Jensen", "Nielsen", "Hansen", "Andersen", "Larsen", "Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kamińska",
    "Patel", "Sharma", "Singh", "Kumar", "Gupta", "Wang", "Li", "Zhang", "Chen", "Liu",
    "Tanaka", "Suzuki", "Sato", "Kim", "Park", "Choi", "Haddad", "Mansour", "Mensah", "Okafor",
    "Silva", "Santos", "Oliveira", "Pereira", "Costa", "Novak", "Horvat", "Ivanov", "Petrov", "O'Brien",
    "Murphy", "Kelly", "Walsh", "Byrne", "Van Dijk", "De Jong", "Bakker", "Visser", "Janssen", "Öztürk",
)  # fmt: skip

# (city, ISO country code, phone country code)
CITIES = (
    ("New York", "US", "1"), ("San Francisco", "US", "1"), ("Chicago", "US", "1"), ("Austin", "US", "1"),
    ("Seattle", "US", "1"), ("Boston", "US", "1"), ("Toronto", "CA", "1"), ("Vancouver", "CA", "1"),
    ("London", "GB", "44"), ("Manchester", "GB", "44"), ("Dublin", "IE", "353"), ("Berlin", "DE", "49"),
    ("Munich", "DE", "49"), ("Hamburg", "DE", "49"), ("Paris", "FR", "33"), ("Lyon", "FR", "33"),
    ("Amsterdam", "NL", "31"), ("Rotterdam", "NL", "31"), ("Madrid", "ES", "34"), ("Barcelona", "ES", "34"),
    ("Milan", "IT", "39"), ("Rome", "IT", "39"), ("Copenhagen", "DK", "45"), ("Stockholm", "SE", "46"),
    ("Oslo", "NO", "47"), ("Warsaw", "PL", "48"), ("Kraków", "PL", "48"), ("Lisbon", "PT", "351"),
    ("São Paulo", "BR", "55"), ("Mexico City", "MX", "52"), ("Bangalore", "IN", "91"), ("Mumbai", "IN", "91"),
    ("Singapore", "SG", "65"), ("Tokyo", "JP", "81"), ("Seoul", "KR", "82"), ("Sydney", "AU", "61"),
    ("Melbourne", "AU", "61"), ("Cape Town", "ZA", "27"), ("Lagos", "NG", "234"), ("Zürich", "CH", "41"),
)  # fmt: skip
CITY_WEIGHTS = (
    9, 6, 5, 3, 4, 4, 4, 2, 7, 2, 2, 5, 3, 2, 4, 1, 3, 1, 3, 2,
    2, 1, 1, 2, 1, 2, 1, 1, 3, 2, 3, 2, 2, 3, 1, 2, 1, 1, 1, 1,
)  # fmt: skip

COMPANY_ADJECTIVES = (
    "north", "blue", "bright", "swift", "iron", "silver", "red", "green", "deep", "clear",
    "open", "true", "bold", "quiet", "rapid", "solid", "prime", "smart", "lucid", "polar",
    "sunny", "urban", "wild", "noble", "vivid", "atlas", "nova", "apex", "summit", "harbor",
    "cedar", "maple", "granite", "copper", "amber", "coral", "crimson", "golden", "lunar", "solar",
)  # fmt: skip
COMPANY_NOUNS = (
    "wind", "stone", "river", "leaf", "bridge", "forge", "field", "peak", "wave", "spark",
    "labs", "works", "data", "cloud", "logic", "metrics", "systems", "studio", "health", "foods",
    "motion", "grid", "signal", "path", "craft", "point", "base", "nest", "hive", "loop",
)  # fmt: skip
COMPANY_SUFFIXES = ("Inc", "LLC", "GmbH", "Ltd", "SAS", "BV", "AB", "Co", "Group", "Technologies")
TLDS = ("com", "io", "co", "net", "de", "co.uk", "fr", "nl")
INDUSTRIES = (
    "Software", "Retail", "Healthcare", "Financial Services", "Manufacturing", "Education",
    "Media", "Logistics", "Hospitality", "Energy", "Real Estate", "Consulting",
)  # fmt: skip

FREE_MAIL_DOMAINS = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "gmx.de",
)
FREE_MAIL_WEIGHTS = (45, 12, 14, 10, 10, 4, 5)

TAGS = (
    "newsletter", "webinar", "trial", "vip", "partner", "beta", "ebook",
    "event", "enterprise", "smb", "churn-risk", "referral",
)  # fmt: skip
TAG_PROBABILITIES = (0.45, 0.18, 0.12, 0.03, 0.04, 0.05, 0.15, 0.1, 0.08, 0.2, 0.04, 0.06)

CONTACT_SOURCES = ("webform", "import", "event", "api", "referral", "checkout")
CONTACT_SOURCE_WEIGHTS = (40, 20, 10, 8, 7, 15)

_FOLD = str.maketrans(
    {
        "é": "e", "è": "e", "ë": "e", "á": "a", "í": "i", "ó": "o", "ö": "o", "ø": "o", "ü": "u",
        "ł": "l", "ś": "s", "ń": "n", "ç": "c", "ã": "a", "ñ": "n", "'": "", " ": "", "-": "", "å": "a", "ä": "a",
    }
)  # fmt: skip


def ascii_slug(name: str) -> str:
    """A name in lowercase ASCII letters, for email local parts (``Søren`` -> ``soren``)."""
    return name.lower().translate(_FOLD)
