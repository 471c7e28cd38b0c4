"""The fixed vocabularies of the directory.

Kinds, statuses and topics are closed lists on purpose: feeds, site pages and newsletter segments are
built per term, so a free-text tag would silently create a page nobody curates. Adding a term is a
code change reviewed like any other (and `docs/taxonomy.md` is checked against this module by a test).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What an entry is: an exile outlet, an organization or initiative, or a host-country program."""

    MEDIA = "media"
    NGO = "ngo"
    PROGRAM = "program"


class Status(StrEnum):
    """Whether an organization still works (`inactive`: not answering; `closed`: announced its end)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"


class ProgramState(StrEnum):
    """A program's own state; a paused program must never read as open."""

    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"
    UNKNOWN = "unknown"


# The values in their canonical order, for validation, listings and help texts.
KINDS: tuple[str, ...] = tuple(Kind)
STATUSES: tuple[str, ...] = tuple(Status)
PROGRAM_STATES: tuple[str, ...] = tuple(ProgramState)


@dataclass(frozen=True)
class Topic:
    slug: str
    en: str
    ru: str
    scope: str  # what it covers, in English
    scope_ru: str  # the same in Russian


TOPICS: tuple[Topic, ...] = (
    Topic(
        "legal-aid",
        "Legal aid",
        "Юридическая помощь",
        "Lawyers, legal consultations and representation, incl. in criminal and administrative cases.",
        "Адвокаты, юридические консультации и представительство, в том числе по уголовным и административным делам.",
    ),
    Topic(
        "political-prisoners",
        "Political prisoners",
        "Политзаключённые",
        "Support for people prosecuted or jailed for political reasons and their families; letters, parcels, lists.",
        "Поддержка преследуемых и заключённых по политическим мотивам и их семей: письма, передачи, списки.",
    ),
    Topic(
        "conscientious-objectors",
        "Conscientious objectors",
        "Отказ от военной службы",
        "Help to avoid mobilisation and conscription, alternative civilian service, desertion and its consequences.",
        "Как избежать мобилизации и призыва; альтернативная гражданская служба; дезертирство и его последствия.",
    ),
    Topic(
        "relocation",
        "Relocation and evacuation",
        "Релокация и эвакуация",
        "Help to leave a country safely, emergency evacuation, first steps after arrival.",
        "Помощь в безопасном выезде из страны, экстренная эвакуация, первые шаги после переезда.",
    ),
    Topic(
        "visas-residence",
        "Visas and residence",
        "Визы и ВНЖ",
        "Entry rules, visas, residence and work permits, humanitarian admission schemes.",
        "Правила въезда, визы, виды на жительство и разрешения на работу, гуманитарные программы приёма.",
    ),
    Topic(
        "asylum",
        "Asylum and refugee status",
        "Убежище и статус беженца",
        "Asylum procedures, refugee and subsidiary protection, travel documents for stateless people.",
        "Процедура убежища, статус беженца и дополнительная защита, проездные документы для лиц без гражданства.",
    ),
    Topic(
        "documents",
        "Documents and consular issues",
        "Документы и консульские вопросы",
        "Passports, expired documents, consular services, apostilles, powers of attorney.",
        "Паспорта, просроченные документы, консульские услуги, апостили, доверенности.",
    ),
    Topic(
        "psychological-support",
        "Psychological support",
        "Психологическая помощь",
        "Counselling, crisis lines, peer support groups.",
        "Консультации психологов, кризисные линии, группы взаимной поддержки.",
    ),
    Topic(
        "medical-aid",
        "Medical aid",
        "Медицинская помощь",
        "Access to treatment, medicines, insurance, help for people with chronic illness.",
        "Доступ к лечению, лекарства, медицинская страховка, помощь людям с хроническими заболеваниями.",
    ),
    Topic(
        "humanitarian-aid",
        "Humanitarian aid",
        "Гуманитарная помощь",
        "Money, food, clothing and other direct help to people in need, incl. victims of war.",
        "Деньги, еда, одежда и другая прямая помощь нуждающимся, в том числе пострадавшим от войны.",
    ),
    Topic(
        "housing",
        "Housing and shelter",
        "Жильё и шелтеры",
        "Shelters, temporary accommodation, help to rent.",
        "Шелтеры, временное жильё, помощь с арендой.",
    ),
    Topic(
        "employment",
        "Work and employment",
        "Работа и трудоустройство",
        "Job search, retraining, labour rights, work permits in practice.",
        "Поиск работы, переобучение, трудовые права, разрешения на работу на практике.",
    ),
    Topic(
        "education",
        "Education",
        "Образование",
        "Schools, universities, courses and scholarships for students and children.",
        "Школы, университеты, курсы и стипендии для студентов и детей.",
    ),
    Topic(
        "research",
        "Research and academia",
        "Наука и академическая среда",
        "Positions, fellowships and networks for researchers at risk.",
        "Позиции, стипендии и профессиональные сети для учёных, которым грозит опасность.",
    ),
    Topic(
        "grants-fellowships",
        "Grants and fellowships",
        "Гранты и стипендии",
        "Funding for individuals and initiatives: stipends, fellowships, emergency grants.",
        "Деньги для людей и инициатив: стипендии, фелловшипы, экстренные гранты.",
    ),
    Topic(
        "journalism",
        "Journalism and news",
        "Журналистика и новости",
        "Independent news outlets and reporting.",
        "Независимые СМИ и репортажи.",
    ),
    Topic(
        "investigations",
        "Investigative reporting",
        "Расследования",
        "Investigative journalism and open-source research.",
        "Журналистские расследования и расследования по открытым источникам.",
    ),
    Topic(
        "media-support",
        "Support for media",
        "Поддержка СМИ",
        "Hubs, training, legal and financial help for journalists and outlets in exile.",
        "Хабы, обучение, юридическая и финансовая помощь журналистам и редакциям в эмиграции.",
    ),
    Topic(
        "human-rights",
        "Human rights monitoring",
        "Мониторинг прав человека",
        "Documenting persecution, repression statistics, reports to international bodies.",
        "Документирование преследований, статистика репрессий, доклады для международных органов.",
    ),
    Topic(
        "anti-war",
        "Anti-war movement",
        "Антивоенное движение",
        "Anti-war activism, protest and campaigns.",
        "Антивоенный активизм, протесты и кампании.",
    ),
    Topic(
        "civic-participation",
        "Civic participation",
        "Гражданское участие",
        "Elections, petitions, diaspora organising and political representation.",
        "Выборы, петиции, самоорганизация диаспоры и политическое представительство.",
    ),
    Topic(
        "lgbt",
        "LGBT+",
        "ЛГБТ+",
        "Help for LGBT+ people, incl. evacuation and legal aid.",
        "Помощь ЛГБТ+ людям, в том числе эвакуация и юридическая помощь.",
    ),
    Topic(
        "women",
        "Women's rights",
        "Права женщин",
        "Help against domestic violence, feminist initiatives.",
        "Помощь пострадавшим от домашнего насилия, феминистские инициативы.",
    ),
    Topic(
        "digital-security",
        "Digital security",
        "Цифровая безопасность",
        "Safe communication, circumvention of censorship, protection against surveillance.",
        "Безопасная связь, обход цензуры, защита от слежки.",
    ),
    Topic(
        "culture",
        "Culture and arts",
        "Культура и искусство",
        "Exiled artists, theatres, publishers, cultural events.",
        "Художники, театры и издательства в эмиграции, культурные события.",
    ),
    Topic(
        "community",
        "Community and integration",
        "Сообщество и адаптация",
        "Diaspora communities, meetups, language learning and everyday integration.",
        "Сообщества диаспоры, встречи, изучение языка и адаптация в повседневной жизни.",
    ),
)

TOPIC_BY_SLUG: dict[str, Topic] = {topic.slug: topic for topic in TOPICS}


@dataclass(frozen=True)
class Authority:
    """A state body that designates organizations; `country` is the ISO 3166-1 code of its state."""

    slug: str
    country: str
    en: str
    ru: str


AUTHORITIES: tuple[Authority, ...] = (
    Authority("ru-minjust", "RU", "Ministry of Justice of Russia", "Министерство юстиции России"),
    Authority("ru-prosecutor-general", "RU", "Prosecutor General's Office of Russia", "Генеральная прокуратура России"),
    Authority("ru-court", "RU", "a Russian court", "российский суд"),
    Authority("ru-supreme-court", "RU", "Supreme Court of Russia", "Верховный суд России"),
    Authority("ru-rosfinmonitoring", "RU", "Rosfinmonitoring", "Росфинмониторинг"),
    Authority("ru-fsb", "RU", "Federal Security Service of Russia (FSB)", "ФСБ России"),
    Authority("by-mvd", "BY", "Ministry of Internal Affairs of Belarus", "МВД Беларуси"),
    Authority("by-kgb", "BY", "KGB of Belarus", "КГБ Беларуси"),
    Authority("by-court", "BY", "a Belarusian court", "белорусский суд"),
    Authority("by-supreme-court", "BY", "Supreme Court of Belarus", "Верховный суд Беларуси"),
    Authority("by-mininform", "BY", "Ministry of Information of Belarus", "Министерство информации Беларуси"),
    Authority("other", "", "another authority", "другой орган"),
)

AUTHORITY_BY_SLUG: dict[str, Authority] = {authority.slug: authority for authority in AUTHORITIES}


@dataclass(frozen=True)
class DesignationKind:
    """A label a state puts on an organization; `en`/`ru` are the names the site and feeds show."""

    slug: str
    en: str
    ru: str
    also: tuple[str, ...] = ()  # other names people search by


DESIGNATION_KINDS: tuple[DesignationKind, ...] = (
    DesignationKind("foreign-agent", "foreign agent", "иностранный агент", ("иноагент", "inoagent")),
    DesignationKind("undesirable", "undesirable organization", "нежелательная организация"),
    DesignationKind("extremist", "extremist organization", "экстремистская организация"),
    DesignationKind("extremist-materials", "extremist materials", "экстремистские материалы"),
    DesignationKind("terrorist", "terrorist organization", "террористическая организация"),
    DesignationKind("other", "other restriction", "другое ограничение"),
)

DESIGNATION_KIND_BY_SLUG: dict[str, DesignationKind] = {kind.slug: kind for kind in DESIGNATION_KINDS}
