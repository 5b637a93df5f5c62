-- expect: 0
-- description: rows whose partition value is not a canonical ISO date (YYYY-MM-DD round trip)
SELECT count_if(
         NOT regexp_like(dt, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$')
         OR date_format(date_parse(dt, '%Y-%m-%d'), '%Y-%m-%d') <> dt
       )
FROM {{ database }}.{{ table }}
WHERE dt = '{{ ds }}'
