-- expect: 0
-- description: non-empty review texts without a single letter (mangled or binary text)
SELECT count_if(NOT regexp_like(review_text, '[A-Za-z]'))
FROM {{ database }}.{{ table }}
WHERE dt = '{{ ds }}'
  AND length(trim(review_text)) > 0
