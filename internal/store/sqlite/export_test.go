package sqlite

// The backend's side of the personal-data register, for its tests.
var (
	PersonalTables = personalTables
	NotPersonal    = notPersonal
)
