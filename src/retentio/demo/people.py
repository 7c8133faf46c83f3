"""Customer identities: names (Russian and English), gender, birthday, city, email, phone, consents.

Identities are independent of behaviour (a name says nothing about churn), except the locale, which
picks the name bank and the language of everything the customer writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


RU_MALE = _words(
    """
    Александр Алексей Андрей Артём Борис Вадим Виктор Владимир Владислав Дмитрий Денис Евгений Иван Игорь
    Илья Кирилл Константин Максим Михаил Никита Николай Олег Павел Роман Сергей Станислав Степан Тимур Фёдор
    Юрий Ярослав Григорий Арсений Матвей Глеб
"""
)
RU_FEMALE = _words(
    """
    Анастасия Анна Алина Валерия Вера Виктория Галина Дарья Екатерина Елена Елизавета Ирина Карина Кристина
    Ксения Любовь Людмила Маргарита Марина Мария Надежда Наталья Оксана Ольга Полина Светлана София Татьяна
    Юлия Яна Алёна Вероника Диана Милана Ульяна
"""
)
# Surnames in their masculine form; the feminine is derived (Иванов → Иванова, Лебединский → Лебединская).
RU_SURNAMES = _words(
    """
    Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков Алексеев
    Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин Захаров Зайцев
    Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев Королёв
    Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов Жуков
    Баранов Филиппов Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоров Матвеев Титов Марков Миронов
    Крылов Куликов Карпов Власов Мельников Денисов Гаврилов Тихонов Казаков Афанасьев Данилов Савельев
    Тимофеев Фомин Чернов Абрамов Мартынов Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв Быков
    Маслов Родионов Коновалов Лазарев Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов
    Потапов Журавлёв Овчинников Трофимов Леонов Соболев Ермаков Колесников Гончаров Емельянов Никифоров
    Грачёв Котов Гришин Ефремов Архипов Громов Кириллов Малышев Панов Моисеев Румянцев Акимов Кондратьев
    Бирюков Горбунов Анисимов Еремеев Лебединский Островский Ким Шевченко Бондаренко Ткаченко Цой
"""
)
EN_MALE = _words(
    """
    James John Robert Michael William David Richard Joseph Thomas Daniel Matthew Anthony Mark Steven Paul
    Andrew Joshua Kevin Brian George Edward Ryan Jacob Nicholas Samuel Oliver Jack Harry Leo Lucas
"""
)
EN_FEMALE = _words(
    """
    Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Emily Emma Olivia Sophia
    Charlotte Amelia Grace Chloe Hannah Lucy Anna Laura Rachel Megan Katie Alice Ella Zoe Mia Lily
"""
)
EN_SURNAMES = _words(
    """
    Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin Jackson
    Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Green Baker Adams Nelson
    Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Parker Collins Edwards Stewart Morris Murphy
    Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks
    Bennett Gray Hughes Price Sanders Myers Long Ross Foster Schmidt Müller Novak Kowalski Rossi Dubois
"""
)

# City, weight. Russian cities dominate; a few from neighbouring countries and abroad.
CITIES = (
    ("Москва", 30.0), ("Санкт-Петербург", 12.0), ("Новосибирск", 3.5), ("Екатеринбург", 3.5),
    ("Казань", 3.0), ("Нижний Новгород", 2.5), ("Челябинск", 2.2), ("Самара", 2.2), ("Омск", 1.8),
    ("Ростов-на-Дону", 2.2), ("Уфа", 1.8), ("Красноярск", 1.8), ("Воронеж", 1.7), ("Пермь", 1.6),
    ("Волгоград", 1.5), ("Краснодар", 2.4), ("Тюмень", 1.3), ("Саратов", 1.2), ("Тольятти", 1.0),
    ("Ижевск", 1.0), ("Барнаул", 1.0), ("Иркутск", 1.0), ("Ярославль", 0.9), ("Владивосток", 1.0),
    ("Хабаровск", 0.8), ("Томск", 0.8), ("Калининград", 0.9), ("Сочи", 1.1), ("Тула", 0.8),
    ("Мурманск", 0.5), ("Химки", 0.9), ("Подольск", 0.8), ("Балашиха", 0.9), ("Мытищи", 0.8),
    ("Минск", 0.7), ("Алматы", 0.7), ("Астана", 0.4), ("Ереван", 0.4), ("Тбилиси", 0.4),
    ("Бишкек", 0.3), ("Ташкент", 0.3), ("Дубай", 0.3), ("Берлин", 0.2), ("Белград", 0.2),
)  # fmt: skip
CITY_NAMES = tuple(c for c, _ in CITIES)
# Mobile prefixes outside Russia (Kazakhstan shares +7); nine digits follow.
FOREIGN_PHONE_PREFIX = {
    "Минск": "+3752",
    "Алматы": "+77",
    "Астана": "+77",
    "Ереван": "+3749",
    "Тбилиси": "+9955",
    "Бишкек": "+9967",
    "Ташкент": "+9989",
    "Дубай": "+9715",
    "Берлин": "+491",
    "Белград": "+3816",
}
CITY_WEIGHTS = np.array([w for _, w in CITIES]) / sum(w for _, w in CITIES)
RU_EMAIL_DOMAINS = (
    "mail.ru",
    "yandex.ru",
    "gmail.com",
    "bk.ru",
    "inbox.ru",
    "list.ru",
    "rambler.ru",
    "ya.ru",
)
RU_EMAIL_WEIGHTS = np.array([30, 28, 22, 5, 4, 4, 4, 3], dtype=float) / 100
EN_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "hotmail.com")
EN_EMAIL_WEIGHTS = np.array([48, 18, 10, 14, 4, 6], dtype=float) / 100

# GOST-like transliteration for email logins; "-" marks the signs (ъ, ь) that are dropped.
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        _words("a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya"),
        strict=True,
    )
)

LOCALE_RU_SHARE = 0.70


def transliterate(text: str) -> str:
    """Latin spelling of a Russian name for an email address (Иванов → ivanov)."""
    return "".join(_TRANSLIT.get(ch, ch) for ch in text.lower()).replace("-", "")


def feminine_surname(surname: str) -> str:
    """Feminine form of a Russian surname: -ов/-ев/-ёв/-ин → +а, -ский → -ская; others unchanged."""
    if surname.endswith("ский"):
        return surname[:-4] + "ская"
    if surname.endswith(("ов", "ев", "ёв", "ин")):
        return surname + "а"
    return surname


@dataclass
class Identities:
    """Identity columns of a block of customers (lists/arrays of the block's length)."""

    locale: np.ndarray  # "ru" / "en" (object array)
    gender: np.ndarray  # "female" / "male" / None
    first_name: list[str]
    last_name: list[str]
    email: list[str | None]
    phone: list[str | None]
    birthday: list[date | None]
    city: list[str]
    consent_email: np.ndarray  # bool
    consent_sms: np.ndarray  # bool


def draw_identities(
    rng: np.random.Generator, customer_numbers: np.ndarray, signup_years: np.ndarray
) -> Identities:
    """Identities for customers numbered ``customer_numbers`` (unique, used to keep emails/phones unique)."""
    n = len(customer_numbers)
    is_ru = rng.random(n) < LOCALE_RU_SHARE
    female = rng.random(n) < 0.56
    gender_known = rng.random(n) > 0.04
    first_idx = rng.integers(0, 1 << 30, n)
    last_idx = rng.integers(0, 1 << 30, n)
    city_idx = rng.choice(len(CITY_NAMES), size=n, p=CITY_WEIGHTS)
    # Customers outside Russia are mostly English-speaking and vice versa.
    foreign = city_idx >= CITY_NAMES.index("Минск")
    is_ru = np.where(foreign, rng.random(n) < 0.35, is_ru)
    # Ages 18..75, mode in the early thirties (a skewed triangular-ish mix).
    age = np.clip(np.round(18 + rng.gamma(4.0, 4.2, n)), 18, 78).astype(int)
    birth_doy = rng.integers(0, 365, n)
    has_birthday = rng.random(n) < 0.82
    has_email = rng.random(n) < 0.97
    has_phone = rng.random(n) < 0.88
    domain_ru = rng.choice(len(RU_EMAIL_DOMAINS), size=n, p=RU_EMAIL_WEIGHTS)
    domain_en = rng.choice(len(EN_EMAIL_DOMAINS), size=n, p=EN_EMAIL_WEIGHTS)
    email_style = rng.integers(0, 4, n)
    consent_email = rng.random(n) < 0.86
    consent_sms = rng.random(n) < 0.62

    first_names: list[str] = []
    last_names: list[str] = []
    emails: list[str | None] = []
    phones: list[str | None] = []
    birthdays: list[date | None] = []
    for i in range(n):
        number = int(customer_numbers[i])
        if is_ru[i]:
            first = (RU_FEMALE if female[i] else RU_MALE)[
                first_idx[i] % len(RU_FEMALE if female[i] else RU_MALE)
            ]
            base = RU_SURNAMES[last_idx[i] % len(RU_SURNAMES)]
            last = feminine_surname(base) if female[i] else base
            login_first, login_last = transliterate(first), transliterate(last)
            domain = RU_EMAIL_DOMAINS[domain_ru[i]]
        else:
            first = (EN_FEMALE if female[i] else EN_MALE)[
                first_idx[i] % len(EN_FEMALE if female[i] else EN_MALE)
            ]
            last = EN_SURNAMES[last_idx[i] % len(EN_SURNAMES)]
            login_first, login_last = first.lower(), last.lower().replace("ü", "ue")
            domain = EN_EMAIL_DOMAINS[domain_en[i]]
        first_names.append(first)
        last_names.append(last)
        if has_email[i]:
            # The customer number keeps every address unique, as a shop's accounts are.
            style = email_style[i]
            if style == 0:
                login = f"{login_first}.{login_last}{number}"
            elif style == 1:
                login = f"{login_first[0]}{login_last}{number}"
            elif style == 2:
                login = f"{login_last}.{login_first}{number % 100000}_{number // 100000}"
            else:
                login = f"{login_first}{number}"
            emails.append(f"{login}@{domain}")
        else:
            emails.append(None)
        if has_phone[i]:
            # Multiplying by a unit modulo 9·10⁸ is a bijection: numbers are unique yet look random.
            digits = (number * 7_368_787 + 271_828_182) % 900_000_000 + 100_000_000
            city = CITY_NAMES[city_idx[i]]
            phones.append(f"{FOREIGN_PHONE_PREFIX.get(city, '+79')}{digits:09d}")
        else:
            phones.append(None)
        if has_birthday[i]:
            year = int(signup_years[i]) - int(age[i])
            birthdays.append(date.fromordinal(date(year, 1, 1).toordinal() + int(birth_doy[i])))
        else:
            birthdays.append(None)
    locale = np.where(is_ru, "ru", "en").astype(object)
    gender = np.where(female, "female", "male").astype(object)
    gender[~gender_known] = None
    return Identities(
        locale=locale,
        gender=gender,
        first_name=first_names,
        last_name=last_names,
        email=emails,
        phone=phones,
        birthday=birthdays,
        city=[CITY_NAMES[c] for c in city_idx],
        consent_email=consent_email,
        consent_sms=consent_sms,
    )
