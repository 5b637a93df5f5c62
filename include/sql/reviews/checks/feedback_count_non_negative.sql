-- expect: 0
-- description: rows with a negative positive_feedback_count
SELECT count_if(positive_feedback_count < 0)
FROM {{ database }}.{{ table }}
WHERE dt = '{{ ds }}'
