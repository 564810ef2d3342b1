module github.com/shmlink/shmlink

go 1.24
