SELECT DISTINCT feature FROM ({source})
