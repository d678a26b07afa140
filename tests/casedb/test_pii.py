"""ID and phone numbers are shown masked and found by digest, however they are written."""

from casedb import pii


def test_phone_is_masked_to_prefix_and_last_four():
    assert pii.mask_phone("13812345678") == "138****5678"
    assert pii.mask_phone("+86 138-1234-5678") == "138****5678"


def test_id_number_keeps_region_code_and_last_four():
    assert pii.mask_id_number("11010119900307123x") == "110101********123X"


def test_email_keeps_first_letter_and_domain():
    assert pii.mask_email("zhangsan@example.com") == "z***@example.com"


def test_the_same_phone_written_differently_has_one_digest():
    assert pii.phone_digest("13812345678") == pii.phone_digest("+86 138 1234 5678")
    assert pii.phone_digest("13812345678") == pii.phone_digest("0086-13812345678")
    assert pii.phone_digest("13812345678") != pii.phone_digest("13812345679")


def test_digests_of_phone_and_id_never_collide_by_kind():
    assert pii.digest("phone", "123456789012345") != pii.digest("id", "123456789012345")
